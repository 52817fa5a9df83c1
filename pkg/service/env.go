package service

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnvBool reads the boolean variable name (true/false, 1/0, yes/no, on/off;
// any case), or def when it is unset.
func EnvBool(getenv func(string) string, name string, def bool) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "":
		return def, nil
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	default:
		return def, fmt.Errorf("%s=%q: want true or false", name, getenv(name))
	}
}

// EnvDuration reads the positive duration variable name (e.g. 30s), or def
// when it is unset.
func EnvDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return def, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d, nil
}

// EnvInt reads the whole-number variable name, at least lowest, or def when
// it is unset.
func EnvInt(getenv func(string) string, name string, def, lowest int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		return def, fmt.Errorf("%s=%q: want a whole number of at least %d", name, v, lowest)
	}
	return n, nil
}
