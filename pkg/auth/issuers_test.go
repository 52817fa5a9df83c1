package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const testSecret = "auth-test-secret-auth-test-secret-0123"

func TestIssuers(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(context.Background(), Config{Secret: testSecret, Issuer: "todo-platform, http://127.0.0.1:8080/oidc"})
	if err != nil {
		t.Fatal(err)
	}
	for iss, ok := range map[string]bool{"todo-platform": true, "http://127.0.0.1:8080/oidc": true, "http://evil.example": false, "": true} {
		tok, err := IssueHS256(testSecret, "alice", iss, "", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(tok)
		if ok && (err != nil || c.UserID != "alice") {
			t.Errorf("issuer %q: %v", iss, err)
		}
		if !ok && (!errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "issuer")) {
			t.Errorf("issuer %q: %v, want refused for its issuer", iss, err)
		}
	}
	// One issuer, the default.
	v, err = NewVerifier(context.Background(), Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := IssueHS256(testSecret, "bob", "someone-else", "", time.Minute)
	if _, err := v.Verify(tok); err == nil {
		t.Error("a token of another issuer was accepted")
	}
}
