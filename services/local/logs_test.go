package local

import (
	"bytes"
	"testing"
)

func TestLogSplit(t *testing.T) {
	t.Parallel()
	var file, term bytes.Buffer
	l := &logSplit{file: &file, term: &term}
	for _, chunk := range []string{
		"time=1 level=INFO msg=request path=/api/v1/tasks\n",
		"time=2 level=WARN msg=\"relay ret", "rying\"\n",
		`{"time":"3","level":"ERROR","msg":"boom"}` + "\n",
		`{"time":"4","level":"INFO","msg":"ok"}` + "\n",
	} {
		if _, err := l.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got := bytes.Count(file.Bytes(), []byte("\n")); got != 4 {
		t.Errorf("the file has %d lines, want all 4:\n%s", got, file.String())
	}
	want := "time=2 level=WARN msg=\"relay retrying\"\n" + `{"time":"3","level":"ERROR","msg":"boom"}` + "\n"
	if term.String() != want {
		t.Errorf("the terminal shows %q, want only the warning and the error", term.String())
	}
}
