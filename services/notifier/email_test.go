package notifier_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/notifier"
)

// mailServer is a real SMTP server (go-smtp) that offers STARTTLS with a
// self-signed certificate and AUTH PLAIN only over TLS.
type mailServer struct {
	addr  string
	roots *x509.CertPool
	mu    sync.Mutex
	mails []mailRecord
}

type mailRecord struct {
	from, to string
	tls      bool
	user     string
	data     []byte
}

const (
	smtpUser = "notifier"
	smtpPass = "s3cret"
)

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	cert, roots := selfSigned(t)
	ms := &mailServer{roots: roots}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{ms: ms, conn: c}, nil
	}))
	s.Domain = "smtp.test"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.AllowInsecureAuth = false
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

type mailSession struct {
	ms   *mailServer
	conn *smtp.Conn
	user string
	rec  mailRecord
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.rec.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.rec.to = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.rec.data, s.rec.tls, s.rec.user = b, isTLS, s.user
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, s.rec)
	s.ms.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.rec = mailRecord{} }
func (s *mailSession) Logout() error { return nil }

func (ms *mailServer) received() []mailRecord {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]mailRecord(nil), ms.mails...)
}

func (ms *mailServer) mailer(t *testing.T, addr string) *notifier.Mailer {
	t.Helper()
	m, err := notifier.NewMailer(notifier.SMTPConfig{
		Addr: addr, Username: smtpUser, Password: smtpPass, From: "Todo Reminders <reminders@todo.test>", StartTLS: true,
		TLS: &tls.Config{RootCAs: ms.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEmailOverStartTLS: a reminder reaches the user's address through a
// real SMTP server, over STARTTLS with AUTH PLAIN, as a multipart/alternative
// message with a plain-text and an HTML body.
func TestEmailOverStartTLS(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t)
	v := setup(t, options{mailer: ms.mailer(t, ms.addr)})
	if status, b := v.do(t, "alice", http.MethodPut, "/api/v1/notification-settings",
		map[string]any{"email": "alice@example.com", "channels": []string{"in_app", "email"}}); status != http.StatusOK {
		t.Fatalf("settings: %d %s", status, b)
	}
	id := "0190f1a2-0000-7000-8000-0000000ed001"
	due := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	apply(t, v, snapshot(id, 1, "Renew <passport> & visa", &due, at(time.Now().Add(200*time.Millisecond))), false)
	eventually(t, "the email arrived", func() bool { return len(ms.received()) == 1 })
	eventually(t, "the delivery marked sent", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE channel = 'email' AND status = 'sent'`) == 1
	})
	got := ms.received()[0]
	if !got.tls || got.user != smtpUser || got.from != "reminders@todo.test" || got.to != "alice@example.com" {
		t.Errorf("envelope: tls %v user %q from %q to %q", got.tls, got.user, got.from, got.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(got.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Reminder: Renew <passport> & visa" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	var deliveryID string
	if err := v.pool.QueryRow(t.Context(), `SELECT id::text FROM notifier.deliveries`).Scan(&deliveryID); err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Message-ID") != "<"+deliveryID+"@todo.test>" || msg.Header.Get("To") != "<alice@example.com>" ||
		!strings.Contains(msg.Header.Get("From"), "reminders@todo.test") || msg.Header.Get("Date") == "" {
		t.Errorf("headers: %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q", msg.Header.Get("Content-Type"))
	}
	bodies := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		bodies[ct] = string(b)
	}
	if txt := bodies["text/plain"]; !strings.Contains(txt, "Reminder: Renew <passport> & visa") || !strings.Contains(txt, "Tue, 06 May 2031 07:08 UTC") {
		t.Errorf("text body: %q", txt)
	}
	if html := bodies["text/html"]; !strings.Contains(html, "Renew &lt;passport&gt; &amp; visa") || strings.Contains(html, "<passport>") {
		t.Errorf("html body: %q", html)
	}
	if got := v.metric(t, "notifier_deliveries_sent_total"); got != 1 {
		t.Errorf("sent metric %v", got)
	}
}

// TestEmailUnreachable: with the SMTP server unreachable, the email is
// retried, then failed and dead-lettered; the inbox keeps the notification.
func TestEmailUnreachable(t *testing.T) {
	t.Parallel()
	dead := servicetest.FreeAddr(t) // nothing listens there now
	ms := &mailServer{roots: x509.NewCertPool()}
	v := setup(t, options{mailer: ms.mailer(t, dead), attempts: 3})
	if status, b := v.do(t, "alice", http.MethodPut, "/api/v1/notification-settings",
		map[string]any{"email": "alice@example.com", "channels": []string{"in_app", "email"}}); status != http.StatusOK {
		t.Fatalf("settings: %d %s", status, b)
	}
	id := "0190f1a2-0000-7000-8000-0000000ed002"
	apply(t, v, snapshot(id, 1, "t", nil, at(time.Now().Add(200*time.Millisecond))), false)
	eventually(t, "the email failed", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE channel = 'email' AND status = 'failed' AND attempts = 3 AND last_error <> ''`) == 1
	})
	eventually(t, "the dead letter published", func() bool {
		return len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicReminders))) == 1
	})
	if got := v.metric(t, "notifier_deliveries_retried_total"); got != 2 {
		t.Errorf("retried metric %v, want 2", got)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.notifications WHERE task_id = $1`, id); n != 1 {
		t.Errorf("%d inbox entries, want 1", n)
	}
}
