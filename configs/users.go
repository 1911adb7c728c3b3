package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// LoadUsersFile reads submission.users_file: a YAML list of users with
// the fields of submission.users[]. Errors name the file and the entry.
func LoadUsersFile(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("submission.users_file: %w", err)
	}
	users, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("submission.users_file %s: %w", path, err)
	}
	return users, nil
}

// ParseUsers parses and validates a users file. Unknown keys are errors,
// as in the config file; an empty file is an empty list.
func ParseUsers(data []byte) ([]User, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var users []User
	if err := dec.Decode(&users); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("want a YAML list of {username, password_hash, allowed_senders}: %w", err)
	}
	v := &validator{}
	validateUsers(v, "", users)
	if err := v.err(); err != nil {
		return nil, err
	}
	return users, nil
}
