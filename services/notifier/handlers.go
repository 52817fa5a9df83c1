package notifier

import (
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
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return notificationResponse{
		ID: n.ID.String(), ReminderID: n.ReminderID.String(), TaskID: n.TaskID, Title: n.Title,
		DueAt: utc(n.DueAt), FireAt: n.FireAt.UTC(), CreatedAt: n.CreatedAt.UTC(), ReadAt: utc(n.ReadAt),
	}
}

type listResponse struct {
	Items      []notificationResponse `json:"items"`
	NextCursor *string                `json:"next_cursor"`
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
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := web.Query(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		unread, limit, cursor, err := parseListQuery(q)
		if err != nil {
			fail(w, r, err)
			return
		}
		ns, next, err := store.Notifications(r.Context(), auth.UserID(r.Context()), unread, limit, cursor)
		if err != nil {
			fail(w, r, err)
			return
		}
		resp := listResponse{Items: make([]notificationResponse, len(ns))}
		for i, n := range ns {
			resp.Items[i] = toResponse(n)
		}
		if next != nil {
			b, _ := json.Marshal(next)
			c := base64.RawURLEncoding.EncodeToString(b)
			resp.NextCursor = &c
		}
		web.Encode(w, r, http.StatusOK, resp)
	}
}

func parseListQuery(q url.Values) (unread bool, limit int, cursor *InboxCursor, err error) {
	limit = 50
	for k, vs := range q {
		if len(vs) != 1 {
			return false, 0, nil, badRequest(k, k+" is given more than once")
		}
		v := vs[0]
		switch k {
		case "unread":
			unread, err = strconv.ParseBool(v)
			if err != nil {
				return false, 0, nil, badRequest(k, "unread is true or false")
			}
		case "limit":
			limit, err = strconv.Atoi(v)
			if err != nil || limit < 1 || limit > 200 {
				return false, 0, nil, badRequest(k, "limit is a whole number from 1 to 200")
			}
		case "cursor":
			b, err := base64.RawURLEncoding.DecodeString(v)
			var c InboxCursor
			if err != nil || json.Unmarshal(b, &c) != nil || c.Time.IsZero() {
				return false, 0, nil, badRequest(k, "cursor is not one this server issued")
			}
			cursor = &c
		default:
			return false, 0, nil, badRequest(k, k+" is not a parameter of this list (unread, limit, cursor)")
		}
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

// deliveryResponse is one delivery as the API shows it.
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
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
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
	limit = 20
	for k, vs := range q {
		if len(vs) != 1 {
			return "", 0, nil, badRequest(k, k+" is given more than once")
		}
		v := vs[0]
		switch k {
		case "status":
			if !slices.Contains(DeliveryStatuses, v) {
				return "", 0, nil, badRequest(k, "status is pending, sent, failed or canceled")
			}
			status = v
		case "limit":
			limit, err = strconv.Atoi(v)
			if err != nil || limit < 1 || limit > 200 {
				return "", 0, nil, badRequest(k, "limit is a whole number from 1 to 200")
			}
		case "cursor":
			b, err := base64.RawURLEncoding.DecodeString(v)
			var c DeliveryCursor
			if err != nil || json.Unmarshal(b, &c) != nil || c.Time.IsZero() {
				return "", 0, nil, badRequest(k, "cursor is not one this server issued")
			}
			cursor = &c
		default:
			return "", 0, nil, badRequest(k, k+" is not a parameter of this list (status, limit, cursor)")
		}
	}
	return status, limit, cursor, nil
}

// handleListDeliveries answers GET /api/v1/deliveries?status=&limit=&cursor=:
// the caller's webhook and email deliveries, newest first, with their
// outcome (attempts, the last error).
func handleListDeliveries(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			fail(w, r, badRequest("", "the query string is not valid URL encoding"))
			return
		}
		status, limit, cursor, err := ParseDeliveriesQuery(q)
		if err != nil {
			fail(w, r, err)
			return
		}
		ds, next, err := store.Deliveries(r.Context(), auth.UserID(r.Context()), status, limit, cursor)
		if err != nil {
			fail(w, r, err)
			return
		}
		resp := struct {
			Items      []deliveryResponse `json:"items"`
			NextCursor *string            `json:"next_cursor"`
		}{Items: make([]deliveryResponse, len(ds))}
		for i, d := range ds {
			resp.Items[i] = toDeliveryResponse(d)
		}
		if next != nil {
			b, _ := json.Marshal(next)
			c := base64.RawURLEncoding.EncodeToString(b)
			resp.NextCursor = &c
		}
		web.Encode(w, r, http.StatusOK, resp)
	}
}
