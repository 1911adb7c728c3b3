package main

import (
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
)

// Until the API and webhooks run in serve, their keys stop it instead of
// being ignored.
func TestRefuseUnwired(t *testing.T) {
	t.Parallel()
	c, err := configs.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := refuseUnwired(c); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	api := *c
	api.API.Listen = configs.HostPort{Host: "127.0.0.1", Port: 8080}
	if err := refuseUnwired(&api); err == nil || !strings.Contains(err.Error(), "api.listen") {
		t.Errorf("api.listen: got %v", err)
	}
	hooks := *c
	hooks.Webhooks.Endpoints = []configs.WebhookEndpoint{{URL: "http://127.0.0.1:1/", Secret: "s"}}
	if err := refuseUnwired(&hooks); err == nil || !strings.Contains(err.Error(), "webhooks.endpoints") {
		t.Errorf("webhooks.endpoints: got %v", err)
	}
}
