package main

import (
	"runtime/debug"
	"testing"
)

func TestBuild_WithVCS(t *testing.T) {
	t.Parallel()
	base := build{version: "dev", commit: "unknown", date: "unknown"}
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     build
	}{
		{"no vcs stamp (go run)", nil, base},
		{"clean checkout", []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0a6e146f00ba4fd2c3e1d5a0b6e8f7a9c1d2e3f4"},
			{Key: "vcs.time", Value: "2026-11-25T15:20:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}, build{version: "dev", commit: "0a6e146", date: "2026-11-25T15:20:00Z (commit time)"}},
		{"uncommitted changes", []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0a6e146f00ba"},
			{Key: "vcs.modified", Value: "true"},
		}, build{version: "dev", commit: "0a6e146-dirty", date: "unknown"}},
	}
	for _, tt := range tests {
		if got := base.withVCS(tt.settings); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
