package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Client message types.
const (
	msgAuth = "auth" // {"type":"auth","token":"…","cursor":"…"}: authenticate (first message) or refresh the token
	msgPing = "ping" // {"type":"ping"}: the server answers {"type":"pong"}
)

// clientMessage is a message a client sends.
type clientMessage struct {
	Type   string `json:"type"`
	Token  string `json:"token,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

var errBadMessage = errors.New("bad message")

// parseClientMessage reads one client message: a JSON object with a known
// type and only the fields that type has. The error says what is wrong, fit
// for a close reason (short, no echo of the input).
func parseClientMessage(b []byte) (clientMessage, error) {
	var m clientMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return m, fmt.Errorf("%w: not a JSON message object of this protocol", errBadMessage)
	}
	if d.More() {
		return m, fmt.Errorf("%w: more than one JSON value", errBadMessage)
	}
	if _, err := d.Token(); err == nil {
		return m, fmt.Errorf("%w: trailing data", errBadMessage)
	}
	switch m.Type {
	case msgAuth:
		if m.Token == "" {
			return m, fmt.Errorf("%w: auth without token", errBadMessage)
		}
	case msgPing:
		if m.Token != "" || m.Cursor != "" {
			return m, fmt.Errorf("%w: ping takes no fields", errBadMessage)
		}
	case "":
		return m, fmt.Errorf("%w: no type", errBadMessage)
	default:
		return m, fmt.Errorf("%w: unknown type", errBadMessage)
	}
	return m, nil
}
