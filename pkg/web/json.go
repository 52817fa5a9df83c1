package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBody is the largest request body Decode accepts by default.
const DefaultMaxBody = 256 << 10

// The kinds of unreadable request, for errors.Is on a *RequestError.
var (
	ErrMediaType    = errors.New("the request body is not JSON")
	ErrTooLarge     = errors.New("the request body is too large")
	ErrUnreadable   = errors.New("the request body could not be read")
	ErrEmpty        = errors.New("the request body is empty")
	ErrSyntax       = errors.New("the request body is not valid JSON")
	ErrWrongType    = errors.New("a JSON value of the wrong type")
	ErrUnknownField = errors.New("an unknown field")
	ErrTrailingData = errors.New("data after the JSON value")
)

// RequestError is a request the server cannot read: a malformed, oversized or
// mistyped body. It carries the status to answer with, and its kind (one of
// the Err* above) for errors.Is.
type RequestError struct {
	Status int
	Detail string
	Field  string // the field at fault, as a dotted path ("recurrence.rule"), if any
	Kind   error
}

func (e *RequestError) Error() string { return e.Detail }

// Unwrap returns the kind of the error.
func (e *RequestError) Unwrap() error { return e.Kind }

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
		return nil, &RequestError{Status: http.StatusBadRequest, Detail: "could not read the request body", Kind: ErrUnreadable}
	}
	return b, nil
}

func tooLarge(max int64) error {
	return &RequestError{Status: http.StatusRequestEntityTooLarge, Detail: "the request body is larger than " + strconv.FormatInt(max, 10) + " bytes", Kind: ErrTooLarge}
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
	return &RequestError{Status: http.StatusUnsupportedMediaType, Detail: "the request body must be JSON (Content-Type: application/json), not " + ct, Kind: ErrMediaType}
}

// Unmarshal decodes one JSON value from b into v strictly (see Decode).
func Unmarshal(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body is empty; a JSON object was expected", Kind: ErrEmpty}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(b, v, err)
	}
	if dec.More() {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body holds more than one JSON value", Kind: ErrTrailingData}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the request body has data after its JSON value", Kind: ErrTrailingData}
	}
	// encoding/json matches member names to fields case-insensitively
	// ({"TITLE":…} sets Title): refuse any name that is not exactly a
	// field's, as an unknown field.
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		if name := unknownField(b, t.Elem()); name != "" {
			return unknownFieldError(name)
		}
	}
	return nil
}

func unknownFieldError(name string) error {
	return &RequestError{Status: http.StatusBadRequest, Kind: ErrUnknownField, Field: name,
		Detail: fmt.Sprintf("unknown field %q (field names are case-sensitive)", name)}
}

// decodeError classifies the failure of decoding b into v by the error's
// type, never its text. encoding/json has no error type for an unknown
// field (DisallowUnknownFields): when b decodes without that check, the
// unknown field was the cause, and unknownField finds it.
func decodeError(b []byte, v any, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return &RequestError{Status: http.StatusBadRequest, Kind: ErrSyntax, Detail: fmt.Sprintf("the request body is not valid JSON (at byte %d): %v", syn.Offset, syn)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &RequestError{Status: http.StatusBadRequest, Kind: ErrSyntax, Detail: "the request body is truncated JSON"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &RequestError{Status: http.StatusBadRequest, Kind: ErrWrongType, Detail: fmt.Sprintf("the request body must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)}
		}
		return &RequestError{Status: http.StatusBadRequest, Kind: ErrWrongType, Field: field, Detail: fmt.Sprintf("field %q must be %s, not %s", field, jsonKind(typ.Type.String()), typ.Value)}
	}
	if t := reflect.TypeOf(v); t != nil && json.Unmarshal(b, reflect.New(t.Elem()).Interface()) == nil {
		name := unknownField(b, t.Elem())
		if name != "" {
			return unknownFieldError(name)
		}
		return &RequestError{Status: http.StatusBadRequest, Kind: ErrUnknownField, Detail: "the request body has a field this operation does not know"}
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		// A time.Time field: its error would show Go's layout.
		return &RequestError{Status: http.StatusBadRequest, Kind: ErrWrongType, Detail: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-01-31T09:00:00Z", pe.Value)}
	}
	// A type's own UnmarshalJSON failed: its error is written for users.
	return &RequestError{Status: http.StatusBadRequest, Kind: ErrWrongType, Detail: "the request body could not be read: " + strings.TrimPrefix(err.Error(), "json: ")}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// unknownField returns the path ("recurrence.when", "list.1.rul") of the
// first member of the JSON value b, in key order, that type t has no field
// for, comparing names exactly; "" when there is none or t decodes itself (a
// json.Unmarshaler, which checks its own names).
func unknownField(b []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return ""
	}
	switch t.Kind() {
	case reflect.Struct:
		var members map[string]json.RawMessage
		if json.Unmarshal(b, &members) != nil {
			return ""
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return k
			}
			if sub := unknownField(members[k], ft); sub != "" {
				return k + "." + sub
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(b, &items) != nil {
			return ""
		}
		for i, item := range items {
			if sub := unknownField(item, t.Elem()); sub != "" {
				return strconv.Itoa(i) + "." + sub
			}
		}
	case reflect.Map:
		var values map[string]json.RawMessage
		if json.Unmarshal(b, &values) != nil {
			return ""
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if sub := unknownField(values[k], t.Elem()); sub != "" {
				return k + "." + sub
			}
		}
	}
	return ""
}

// jsonFields maps the JSON names of struct type t's fields to their types,
// embedded structs' fields included.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
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

// Encode sends v as JSON with status. The response is never sniffed as
// another type (X-Content-Type-Options: nosniff) and, unless the handler set
// its own Cache-Control, never stored by a browser or a proxy (no-store):
// it holds one user's data.
func Encode(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Internal(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	noStore(h)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// noStore marks a response as not to be sniffed nor stored (unless the
// handler chose its own Cache-Control).
func noStore(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
}

// Document serves body, a JSON document the service embeds (its OpenAPI
// description): public, cacheable for five minutes, never sniffed.
func Document(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	}
}
