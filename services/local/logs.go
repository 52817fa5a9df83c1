package local

import (
	"bytes"
	"io"
	"sync"
)

// logSplit keeps the terminal for what a person needs: every log line of
// the services goes to the log file, and only warnings and errors also to
// the terminal (where the banner with the URL and the token stays in view).
type logSplit struct {
	mu   sync.Mutex
	file io.Writer
	term io.Writer
	buf  []byte
}

var importantLevels = [][]byte{
	[]byte("level=WARN"), []byte("level=ERROR"), []byte(`"level":"WARN"`), []byte(`"level":"ERROR"`),
}

func (l *logSplit) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := l.buf[:i+1]
		_, _ = l.file.Write(line)
		for _, lv := range importantLevels {
			if bytes.Contains(line, lv) {
				_, _ = l.term.Write(line)
				break
			}
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
