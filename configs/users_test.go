package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	good := `
- username: app
  password_hash: "$2a$10$abcdefghijklmnopqrstuv"
  allowed_senders: ["*@example.com", noreply@example.org]
- username: bob@example.com
  password_hash: "$2a$10$abcdefghijklmnopqrstuv"
`
	users, err := ParseUsers([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Username != "app" || len(users[0].AllowedSenders) != 2 || users[1].AllowedSenders != nil {
		t.Errorf("users %+v", users)
	}
	if users, err := ParseUsers(nil); err != nil || len(users) != 0 {
		t.Errorf("empty file: %v, %v", users, err)
	}

	tests := []struct{ name, yaml, want string }{
		{"not a list", "username: app\n", "want a YAML list"},
		{"unknown key", "- {username: a, password_hash: $2a$10$x, pasword: y}\n", "pasword"},
		{"empty username", "- {username: '', password_hash: $2a$10$x}\n", "[0].username"},
		{"plain password", "- {username: a, password_hash: secret}\n", "[0].password_hash"},
		{"duplicate", "- {username: a, password_hash: $2a$10$x}\n- {username: a, password_hash: $2a$10$y}\n", "[1].username"},
		{"bad pattern", "- {username: a, password_hash: $2a$10$x, allowed_senders: ['@']}\n", "[0].allowed_senders[0]"},
	}
	for _, tt := range tests {
		_, err := ParseUsers([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows the password field: %v", tt.name, err)
		}
	}
}

func TestLoadUsersFile_NamesTheFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "users.yaml")
	if _, err := LoadUsersFile(p); err == nil || !strings.Contains(err.Error(), "submission.users_file") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte("- {username: a, password_hash: nope}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsersFile(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "[0].password_hash") {
		t.Errorf("bad file: %v", err)
	}
}

func FuzzParseUsers(f *testing.F) {
	for _, s := range []string{
		"", "[]", "- {username: a, password_hash: $2a$10$x}\n", "- username: a\n  allowed_senders: ['*']\n",
		"username: a", "- [1, 2]", "- {username: a, password_hash: $2a$10$x, allowed_senders: [{a: b}]}",
		"&a [*a]", "- !!binary aGVsbG8=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, u := range users {
			if u.Username == "" || seen[u.Username] || !strings.HasPrefix(u.PasswordHash, "$2") {
				t.Fatalf("invalid user accepted: %+v", u)
			}
			seen[u.Username] = true
			for _, p := range u.AllowedSenders {
				if !validSenderPattern(p) {
					t.Fatalf("invalid pattern %q accepted", p)
				}
			}
		}
	})
}
