package notifier

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/todo-platform/todo/pkg/events"
)

// SMTPConfig is how the notifier sends email.
type SMTPConfig struct {
	Addr     string // SMTP_ADDR host:port; empty turns email off
	Username string // SMTP_USERNAME: AUTH PLAIN when set
	Password string // SMTP_PASSWORD
	From     string // SMTP_FROM, e.g. "Todo <reminders@example.com>"
	StartTLS bool   // SMTP_STARTTLS: upgrade with STARTTLS (required for AUTH)
	// TLS is the STARTTLS client configuration (nil: the system roots and
	// the host of Addr).
	TLS     *tls.Config
	Timeout time.Duration // per message (default 30s)
}

// Mailer sends reminder emails.
type Mailer struct {
	cfg    SMTPConfig
	from   *mail.Address
	domain string
}

// NewMailer checks cfg and returns a mailer.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("SMTP_ADDR=%q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("SMTP_FROM=%q: want an email address", cfg.From)
	}
	if cfg.Username != "" && !cfg.StartTLS {
		return nil, errors.New("SMTP_USERNAME is set but SMTP_STARTTLS is false: the password would cross the network in clear")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TLS == nil {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		cfg.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Mailer{cfg: cfg, from: from, domain: domain}, nil
}

// MessageID is the Message-ID of a delivery's email: stable, so that a
// receiver can drop the copy of a resend.
func (m *Mailer) MessageID(deliveryID string) string {
	return "<" + deliveryID + "@" + m.domain + ">"
}

// Send mails the reminder d to to, as delivery id.
func (m *Mailer) Send(ctx context.Context, id, to string, d events.ReminderDue) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return permanent(fmt.Errorf("email address %q: %w", to, err))
	}
	msg, err := m.Compose(id, rcpt, d, time.Now())
	if err != nil {
		return permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var c *smtp.Client
	if m.cfg.StartTLS {
		c, err = smtp.NewClientStartTLS(conn, m.cfg.TLS)
		if err != nil {
			_ = conn.Close()
			return fmt.Errorf("smtp starttls: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer func() { _ = c.Close() }()
	if m.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.cfg.Password)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.SendMail(m.from.Address, []string{rcpt.Address}, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	_ = c.Quit()
	return nil
}

var (
	textBody = template.Must(template.New("text").Parse(`Reminder: {{.TaskTitle}}
{{if .DueAt}}
Due: {{.DueAt.Format "Mon, 02 Jan 2006 15:04 MST"}}
{{end}}
This reminder was set for {{.FireAt.Format "Mon, 02 Jan 2006 15:04 MST"}}.
`))
	htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body>
<p><strong>Reminder:</strong> {{.TaskTitle}}</p>
{{if .DueAt}}<p>Due: {{.DueAt.Format "Mon, 02 Jan 2006 15:04 MST"}}</p>{{end}}
<p>This reminder was set for {{.FireAt.Format "Mon, 02 Jan 2006 15:04 MST"}}.</p>
</body></html>
`))
)

// Compose writes the email of reminder d to rcpt: multipart/alternative
// with a plain-text and an HTML part, both quoted-printable UTF-8.
func (m *Mailer) Compose(id string, rcpt *mail.Address, d events.ReminderDue, now time.Time) ([]byte, error) {
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("email text: %w", err)
	}
	if err := htmlBody.Execute(&html, d); err != nil {
		return nil, fmt.Errorf("email html: %w", err)
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	boundary := "todo-" + hex.EncodeToString(b)
	title := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, d.TaskTitle)

	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("From", m.from.String())
	h("To", rcpt.String())
	h("Subject", mime.QEncoding.Encode("utf-8", "Reminder: "+title))
	h("Date", now.UTC().Format(time.RFC1123Z))
	h("Message-ID", m.MessageID(id))
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	buf.WriteString("\r\n")
	for _, part := range []struct {
		typ  string
		body []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		fmt.Fprintf(&buf, "--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.typ)
		qp := quotedprintable.NewWriter(&buf)
		if _, err := qp.Write(bytes.ReplaceAll(part.body, []byte("\n"), []byte("\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
		buf.WriteString("\r\n")
	}
	fmt.Fprintf(&buf, "--%s--\r\n", boundary)
	return buf.Bytes(), nil
}
