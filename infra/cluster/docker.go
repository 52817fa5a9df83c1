package cluster

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DockerConfigAuth returns the username and password of the first registry in
// a Docker config JSON ({"auths":{"host":{"auth":"base64(user:pass)"}}}).
func DockerConfigAuth(js string) (user, pass string, err error) {
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return "", "", fmt.Errorf("docker credentials: %w", err)
	}
	for _, a := range cfg.Auths {
		if a.Username != "" {
			return a.Username, a.Password, nil
		}
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return "", "", fmt.Errorf("docker credentials: %w", err)
		}
		u, p, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", "", errors.New("docker credentials: auth is not user:password")
		}
		return u, p, nil
	}
	return "", "", errors.New("docker credentials: no registry in auths")
}
