package testhttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDo_SendsTokenTypeAndHeaders(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, r.Method+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("Content-Type")+"|"+r.Header.Get("X-Test")+"|"+string(b))
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name, method, token string
		body                []byte
		headers             []string
		want                string
	}{
		{"a GET without a token", http.MethodGet, "", nil, nil, "GET||||"},
		{"a POST", http.MethodPost, "tok", JSON(t, map[string]int{"a": 1}), []string{"X-Test", "x"}, `POST|Bearer tok|application/json|x|{"a":1}`},
		{"a body as written", http.MethodPost, "", JSON(t, "{broken"), nil, "POST||application/json||{broken"},
		{"headers replace", http.MethodPost, "tok", []byte("b"), []string{"Authorization", "Basic x"}, "POST|Basic x|application/json||b"},
	} {
		resp, b := Do(t, tt.method, srv.URL+"/p", tt.token, tt.body, tt.headers...)
		if resp.StatusCode != http.StatusTeapot || string(b) != tt.want {
			t.Errorf("%s: %d %q, want 418 %q", tt.name, resp.StatusCode, b, tt.want)
		}
	}
}
