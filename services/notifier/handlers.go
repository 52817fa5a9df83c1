package notifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/web"
)

const maxBody = 16 << 10

// notificationResponse is one inbox entry as the API shows it.
type notificationResponse struct {
	ID         string     `json:"id"`
	ReminderID string     `json:"reminder_id"`
	TaskID     string     `json:"task_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	FireAt     time.Time  `json:"fire_at"`
	CreatedAt  time.Time  `json:"created_at"`
	ReadAt     *time.Time `json:"read_at"`
}

func toResponse(n Notification) notificationResponse {
	return notificationResponse{
		ID: n.ID.String(), ReminderID: n.ReminderID.String(), TaskID: n.TaskID, Title: n.Title,
		DueAt: utc(n.DueAt), FireAt: n.FireAt.UTC(), CreatedAt: n.CreatedAt.UTC(), ReadAt: utc(n.ReadAt),
	}
}

// utc is t in UTC (nil for nil).
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// page is a page of a list as the API shows it: the notifications' and the
// deliveries'.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// newPage is the page of rows, each shown by show, whose next page starts
// at next (nil: this is the last page).
func newPage[R, T, C any](rows []R, show func(R) T, next *C) page[T] {
	p := page[T]{Items: make([]T, len(rows))}
	for i, r := range rows {
		p.Items[i] = show(r)
	}
	if next != nil {
		b, _ := json.Marshal(next)
		c := base64.RawURLEncoding.EncodeToString(b)
		p.NextCursor = &c
	}
	return p
}

// parsePageQuery reads a list's query: limit (1 to 200, def when absent),
// cursor (one this server issued: decoded, and whole by issued) and the
// list's own parameters, each read by own, which refuses any it does not
// know. Each parameter may be given once. Every error is a
// *web.RequestError.
func parsePageQuery[C any](q url.Values, def int, issued func(C) bool, own func(k, v string) error) (limit int, cursor *C, err error) {
	limit = def
	for k, vs := range q {
		if len(vs) != 1 {
			return 0, nil, badRequest(k, k+" is given more than once")
		}
		v := vs[0]
		switch k {
		case "limit":
			limit, err = strconv.Atoi(v)
			if err != nil || limit < 1 || limit > 200 {
				return 0, nil, badRequest(k, "limit is a whole number from 1 to 200")
			}
		case "cursor":
			b, err := base64.RawURLEncoding.DecodeString(v)
			var c C
			if err != nil || json.Unmarshal(b, &c) != nil || !issued(c) {
				return 0, nil, badRequest(k, "cursor is not one this server issued")
			}
			cursor = &c
		default:
			if err := own(k, v); err != nil {
				return 0, nil, err
			}
		}
	}
	return limit, cursor, nil
}

// fail answers err: request errors with their status, the store's sentinels
// with theirs, anything else as an internal error.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *web.RequestError
	switch {
	case errors.As(err, &re):
		web.WriteProblem(w, r, re.Problem())
	case errors.Is(err, ErrNotFound):
		web.Fail(w, r, http.StatusNotFound, "no such notification or webhook")
	case errors.Is(err, ErrCanceled):
		web.Fail(w, r, http.StatusConflict, ErrCanceled.Error())
	case errors.Is(err, ErrTooMany):
		web.Fail(w, r, http.StatusConflict, strings.TrimPrefix(err.Error(), ErrTooMany.Error()+": "))
	case r.Context().Err() != nil:
		web.Fail(w, r, 499, "request canceled")
	default:
		web.Internal(w, r, err)
	}
}

func badRequest(field, detail string) error {
	return &web.RequestError{Status: http.StatusBadRequest, Detail: detail, Field: field}
}

// handleList answers GET /api/v1/notifications?unread=true&limit=&cursor=.
func handleList(store *Store) http.HandlerFunc {
	return handlePage(func(ctx context.Context, user string, q url.Values) ([]Notification, *InboxCursor, error) {
		unread, limit, cursor, err := parseListQuery(q)
		if err != nil {
			return nil, nil, err
		}
		return store.Notifications(ctx, user, unread, limit, cursor)
	}, toResponse)
}

// handlePage answers a list of the caller's: list reads the query and
// returns the page it asks for and where the next one starts; show shows
// each row.
func handlePage[R, T, C any](list func(ctx context.Context, user string, q url.Values) ([]R, *C, error), show func(R) T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := web.Query(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		rows, next, err := list(r.Context(), auth.UserID(r.Context()), q)
		if err != nil {
			fail(w, r, err)
			return
		}
		web.Encode(w, r, http.StatusOK, newPage(rows, show, next))
	}
}

func parseListQuery(q url.Values) (unread bool, limit int, cursor *InboxCursor, err error) {
	limit, cursor, err = parsePageQuery(q, 50, func(c InboxCursor) bool { return !c.Time.IsZero() }, func(k, v string) error {
		if k != "unread" {
			return badRequest(k, k+" is not a parameter of this list (unread, limit, cursor)")
		}
		var perr error
		if unread, perr = strconv.ParseBool(v); perr != nil {
			return badRequest(k, "unread is true or false")
		}
		return nil
	})
	if err != nil {
		return false, 0, nil, err
	}
	return unread, limit, cursor, nil
}

// handleRead answers POST /api/v1/notifications/{id}/read.
func handleRead(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := store.MarkRead(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "id"))
		if err != nil {
			fail(w, r, err)
			return
		}
		web.Encode(w, r, http.StatusOK, toResponse(n))
	}
}

// snoozeRequest is {"for":"10m"} or {"until":"<RFC 3339>"}.
type snoozeRequest struct {
	For   *string `json:"for"`
	Until *string `json:"until"`
}

// Snooze limits.
const (
	minSnooze = time.Second
	maxSnooze = 366 * 24 * time.Hour
)

// ParseSnooze reads a snooze request body and returns the new fire time.
// Every error is a *web.RequestError.
func ParseSnooze(body []byte, now time.Time) (time.Time, error) {
	var req snoozeRequest
	if err := web.Unmarshal(body, &req); err != nil {
		return time.Time{}, err
	}
	switch {
	case req.For != nil && req.Until != nil:
		return time.Time{}, badRequest("for", `give either "for" or "until", not both`)
	case req.For != nil:
		d, err := task.ParseDuration(*req.For)
		if err != nil {
			return time.Time{}, badRequest("for", err.Error())
		}
		if d < minSnooze || d > maxSnooze {
			return time.Time{}, badRequest("for", `"for" must be between 1s and 366d`)
		}
		return now.Add(d).UTC(), nil
	case req.Until != nil:
		at, err := time.Parse(time.RFC3339Nano, *req.Until)
		if err != nil {
			return time.Time{}, badRequest("until", `"until" must be an RFC 3339 time such as 2026-03-01T09:00:00Z`)
		}
		if !at.After(now) || at.Sub(now) > maxSnooze {
			return time.Time{}, badRequest("until", `"until" must be in the future, within 366 days`)
		}
		return at.UTC(), nil
	default:
		return time.Time{}, badRequest("", `a snooze needs "for" (a duration such as "10m") or "until" (an RFC 3339 time)`)
	}
}

// handleSnooze answers POST /api/v1/notifications/{id}/snooze.
func handleSnooze(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := web.ReadBody(w, r, maxBody)
		if err != nil {
			fail(w, r, err)
			return
		}
		until, err := ParseSnooze(body, time.Now())
		if err != nil {
			fail(w, r, err)
			return
		}
		reminder, err := store.Snooze(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "id"), until)
		if err != nil {
			fail(w, r, err)
			return
		}
		web.Encode(w, r, http.StatusOK, map[string]any{
			"notification_id": chi.URLParam(r, "id"), "reminder_id": reminder.String(), "fire_at": until,
		})
	}
}

// webhookRequest registers a webhook.
type webhookRequest struct {
	URL string `json:"url"`
}

type webhookResponse struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ParseWebhookRequest reads a webhook registration body and checks the form
// of its URL (not yet where it resolves). Every error is a *web.RequestError.
func ParseWebhookRequest(body []byte) (*url.URL, error) {
	var req webhookRequest
	if err := web.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	u, err := ParseWebhookURL(req.URL)
	if err != nil {
		return nil, badRequest("url", err.Error())
	}
	return u, nil
}

// handleAddWebhook answers POST /api/v1/webhooks; the secret is shown here
// only.
func handleAddWebhook(store *Store, allowPrivate bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := web.ReadBody(w, r, maxBody)
		if err != nil {
			fail(w, r, err)
			return
		}
		u, err := ParseWebhookRequest(body)
		if err != nil {
			fail(w, r, err)
			return
		}
		if err := CheckWebhookTarget(r.Context(), u, allowPrivate); err != nil {
			fail(w, r, badRequest("url", err.Error()))
			return
		}
		secret := NewWebhookSecret()
		hook, err := store.AddWebhook(r.Context(), auth.UserID(r.Context()), u.String(), secret)
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/api/v1/webhooks/"+hook.ID.String())
		web.Encode(w, r, http.StatusCreated, webhookResponse{ID: hook.ID.String(), URL: hook.URL, Secret: secret, CreatedAt: hook.CreatedAt.UTC()})
	}
}

// handleListWebhooks answers GET /api/v1/webhooks (without the secrets).
func handleListWebhooks(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hooks, err := store.Webhooks(r.Context(), auth.UserID(r.Context()))
		if err != nil {
			fail(w, r, err)
			return
		}
		resp := struct {
			Items []webhookResponse `json:"items"`
		}{Items: make([]webhookResponse, len(hooks))}
		for i, h := range hooks {
			resp.Items[i] = webhookResponse{ID: h.ID.String(), URL: h.URL, CreatedAt: h.CreatedAt.UTC()}
		}
		web.Encode(w, r, http.StatusOK, resp)
	}
}

// handleDeleteWebhook answers DELETE /api/v1/webhooks/{id}.
func handleDeleteWebhook(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := store.DeleteWebhook(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "id")); err != nil {
			fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// settingsBody is the body of PUT and GET /api/v1/notification-settings.
type settingsBody struct {
	Email    *string  `json:"email"`
	Channels []string `json:"channels"`
}

// ParseSettings reads a settings body. Every error is a *web.RequestError.
func ParseSettings(body []byte) (Settings, error) {
	var req settingsBody
	if err := web.Unmarshal(body, &req); err != nil {
		return Settings{}, err
	}
	if req.Channels == nil {
		return Settings{}, badRequest("channels", `"channels" is required: a list of in_app, webhook, email`)
	}
	chans := []string{}
	for _, c := range req.Channels {
		if !slices.Contains(DefaultChannels, c) {
			return Settings{}, badRequest("channels", "unknown channel "+strconv.Quote(c)+": want in_app, webhook or email")
		}
		if !slices.Contains(chans, c) {
			chans = append(chans, c)
		}
	}
	st := Settings{Channels: chans}
	if req.Email != nil && *req.Email != "" {
		a, err := mail.ParseAddress(*req.Email)
		if err != nil || a.Name != "" || a.Address != *req.Email || len(a.Address) > 254 {
			return Settings{}, badRequest("email", `"email" must be a plain address such as ada@example.com`)
		}
		st.Email = &a.Address
	}
	if slices.Contains(chans, ChannelEmail) && st.Email == nil {
		return Settings{}, badRequest("email", `the email channel needs an "email" address`)
	}
	return st, nil
}

// handlePutSettings answers PUT /api/v1/notification-settings.
func handlePutSettings(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := web.ReadBody(w, r, maxBody)
		if err != nil {
			fail(w, r, err)
			return
		}
		st, err := ParseSettings(body)
		if err != nil {
			fail(w, r, err)
			return
		}
		if err := store.PutSettings(r.Context(), auth.UserID(r.Context()), st); err != nil {
			fail(w, r, err)
			return
		}
		web.Encode(w, r, http.StatusOK, settingsBody(st))
	}
}

// handleGetSettings answers GET /api/v1/notification-settings.
func handleGetSettings(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := store.Settings(r.Context(), auth.UserID(r.Context()))
		if err != nil {
			fail(w, r, err)
			return
		}
		web.Encode(w, r, http.StatusOK, settingsBody(st))
	}
}

// deliveryResponse is one delivery as the API shows it. It repeats the
// fields of Delivery, the row, on purpose: the API's shape is its own, and
// changes only when this type does.
type deliveryResponse struct {
	ID            string     `json:"id"`
	Channel       string     `json:"channel"`
	Target        *string    `json:"target"`
	WebhookID     *string    `json:"webhook_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     *string    `json:"last_error"`
	TaskID        string     `json:"task_id"`
	TaskTitle     string     `json:"task_title"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DoneAt        *time.Time `json:"done_at"`
}

func toDeliveryResponse(d Delivery) deliveryResponse {
	var hook *string
	if d.WebhookID != nil {
		s := d.WebhookID.String()
		hook = &s
	}
	return deliveryResponse{
		ID: d.ID.String(), Channel: d.Channel, Target: d.Target, WebhookID: hook, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, TaskID: d.TaskID, TaskTitle: d.TaskTitle,
		CreatedAt: d.CreatedAt.UTC(), NextAttemptAt: utc(d.NextAttemptAt), DoneAt: utc(d.DoneAt),
	}
}

// ParseDeliveriesQuery reads the query of GET /api/v1/deliveries. Every
// error is a *web.RequestError.
func ParseDeliveriesQuery(q url.Values) (status string, limit int, cursor *DeliveryCursor, err error) {
	limit, cursor, err = parsePageQuery(q, 20, func(c DeliveryCursor) bool { return !c.Time.IsZero() }, func(k, v string) error {
		if k != "status" {
			return badRequest(k, k+" is not a parameter of this list (status, limit, cursor)")
		}
		if !slices.Contains(DeliveryStatuses, v) {
			return badRequest(k, "status is pending, sent, failed or canceled")
		}
		status = v
		return nil
	})
	if err != nil {
		return "", 0, nil, err
	}
	return status, limit, cursor, nil
}

// handleListDeliveries answers GET /api/v1/deliveries?status=&limit=&cursor=:
// the caller's webhook and email deliveries, newest first, with their
// outcome (attempts, the last error).
func handleListDeliveries(store *Store) http.HandlerFunc {
	return handlePage(func(ctx context.Context, user string, q url.Values) ([]Delivery, *DeliveryCursor, error) {
		status, limit, cursor, err := ParseDeliveriesQuery(q)
		if err != nil {
			return nil, nil, err
		}
		return store.Deliveries(ctx, user, status, limit, cursor)
	}, toDeliveryResponse)
}
