package taskapi

import (
	"errors"
	"net/http"

	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/web"
)

// errorStatus is the one table from domain errors to HTTP statuses.
var errorStatus = []struct {
	err    error
	status int
	detail string
}{
	{task.ErrNotFound, http.StatusNotFound, "no such task"},
	{task.ErrVersionMismatch, http.StatusPreconditionFailed, "the task has changed since the version in If-Match; read it again and retry"},
	{ErrNotRecurring, http.StatusConflict, "the task has no recurrence: it has no next occurrence"},
}

// fail answers err: request errors with their own status, validation errors
// as 422 with every field problem, domain errors by the table above, and
// anything else as a logged 500 that says only "internal error".
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		re *web.RequestError
		pe *patchError
		ve *task.ValidationError
	)
	switch {
	case errors.As(err, &re):
		web.WriteProblem(w, r, re.Problem())
		return
	case errors.As(err, &pe):
		p := web.NewProblem(http.StatusBadRequest, "the patch sets fields that cannot be changed this way")
		p.Errors = fieldProblems(&pe.ValidationError)
		web.WriteProblem(w, r, p)
		return
	case errors.As(err, &ve):
		p := web.NewProblem(http.StatusUnprocessableEntity, "the task is not valid: see errors")
		p.Errors = fieldProblems(ve)
		web.WriteProblem(w, r, p)
		return
	}
	for _, e := range errorStatus {
		if errors.Is(err, e.err) {
			web.Fail(w, r, e.status, e.detail)
			return
		}
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads this answer.
		web.Logger(r.Context()).Info("request canceled", "err", err)
		web.Fail(w, r, 499, "request canceled")
		return
	}
	web.Internal(w, r, err)
}

func fieldProblems(ve *task.ValidationError) []web.FieldProblem {
	out := make([]web.FieldProblem, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = web.FieldProblem{Field: p.Field, Message: p.Message}
	}
	return out
}
