package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// DefaultMaxBody is the largest request body Decode accepts by default.
const DefaultMaxBody = 256 << 10

// RequestError is a request the server cannot read: a malformed, oversized or
// mistyped body. It carries the status to answer with.
type RequestError struct {
	Status int
	Detail string
	Field  string
}

func (e *RequestError) Error() string { return e.Detail }

// Problem returns the problem to answer e with.
func (e *RequestError) Problem() *Problem {
	p := NewProblem(e.Status, e.Detail)
	if e.Field != "" {
		p.Errors = []FieldProblem{{Field: e.Field, Message: e.Detail}}
	}
	return p
}

// Decode reads r's body as one JSON value into a T, rejecting unknown fields,
// wrong types, trailing data and bodies over maxBytes (0: DefaultMaxBody).
// The content type, when given, must be JSON (application/json or any
// "+json" type). Errors are *RequestError.
func Decode[T any](w http.ResponseWriter, r *http.Request, maxBytes int64) (T, error) {
	var v T
	if err := checkJSONType(r); err != nil {
		return v, err
	}
	body, err := ReadBody(w, r, maxBytes)
	if err != nil {
		return v, err
	}
	return v, Unmarshal(body, &v)
}

// ReadBody reads at most maxBytes of r's body (0: DefaultMaxBody); a longer
// body is a 413 *RequestError.
func ReadBody(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	if r.ContentLength > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(maxBytes)
		}
		return nil, &RequestError{Status: http.StatusBadRequest, Detail: "could not read the request body"}
	}
	return b, nil
}

func tooLarge(max int64) error {
	return &RequestError{Status: http.StatusRequestEntityTooLarge, Detail: "the request body is larger than " + strconv.FormatInt(max, 10) + " bytes"}
}

func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &RequestError{Status: http.StatusUnsupportedMediaType, Detail: "the request body must be JSON (Content-Type: application/json), not " + ct}
}

// Unmarshal decodes one JSON value from b into v strictly (see Decode).
func Unmarshal(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body is empty; a JSON object was expected"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body holds more than one JSON value"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body has data after its JSON value"}
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("the request body is not valid JSON (at byte %d): %v", syn.Offset, syn)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body is truncated JSON"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("the request body must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)}
		}
		return &RequestError{Status: http.StatusBadRequest, Field: field, Detail: fmt.Sprintf("field %q must be %s, not %s", field, jsonKind(typ.Type.String()), typ.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &RequestError{Status: http.StatusBadRequest, Field: name, Detail: fmt.Sprintf("unknown field %q", name)}
	default:
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body could not be read as JSON: " + err.Error()}
	}
}

// jsonKind names a Go type as its JSON kind for error messages.
func jsonKind(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map"), t == "struct":
		return "an object"
	default:
		return "an object"
	}
}

// Encode sends v as JSON with status.
func Encode(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Internal(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
