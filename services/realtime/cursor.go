package realtime

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// position names a partition of a topic. Partition -1 holds events that came
// without Kafka coordinates (a Dapr component that does not pass them); their
// offsets are this replica's own sequence.
type position struct {
	topic     string
	partition int32
}

// cursor is where a client is: for each partition, the offset of the next
// message it has not seen. Kafka coordinates are the same on every replica,
// so a cursor from one replica means the same on another. instance is set
// when the cursor holds replica-local positions (partition -1): they mean
// something only on that replica.
type cursor struct {
	instance string
	next     map[position]int64
}

// Limits of a cursor a client sends.
const (
	maxCursorLen     = 4096
	maxCursorEntries = 1024
	cursorVersion    = 1
)

var errBadCursor = errors.New("the cursor is not one this service issued")

// encodeCursor encodes the positions, in the order given: version, instance,
// then per topic its name and its (partition, next offset) pairs, as
// varints, in unpadded base64url. Clients treat it as opaque.
func encodeCursor(instance string, order []position, next map[position]int64) string {
	b := make([]byte, 0, 16+len(instance)+len(order)*6)
	b = append(b, cursorVersion)
	b = binary.AppendUvarint(b, uint64(len(instance))) //nolint:gosec // a length is never negative
	b = append(b, instance...)
	// Count topics (order is sorted by topic, then partition).
	var topics uint64
	for i, p := range order {
		if i == 0 || order[i-1].topic != p.topic {
			topics++
		}
	}
	b = binary.AppendUvarint(b, topics)
	for i := 0; i < len(order); {
		j, n := i, uint64(0)
		for j < len(order) && order[j].topic == order[i].topic {
			j++
			n++
		}
		b = binary.AppendUvarint(b, uint64(len(order[i].topic)))
		b = append(b, order[i].topic...)
		b = binary.AppendUvarint(b, n)
		for _, p := range order[i:j] {
			b = binary.AppendVarint(b, int64(p.partition))
			b = binary.AppendVarint(b, next[p])
		}
		i = j
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads what encodeCursor wrote; anything else is errBadCursor.
func decodeCursor(s string) (cursor, error) {
	if s == "" || len(s) > maxCursorLen {
		return cursor{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || b[0] != cursorVersion {
		return cursor{}, errBadCursor
	}
	r := reader{b: b[1:]}
	c := cursor{next: map[position]int64{}}
	c.instance = r.str()
	topics := r.uvarint()
	for t := uint64(0); t < topics && r.err == nil; t++ {
		name := r.str()
		n := r.uvarint()
		for k := uint64(0); k < n && r.err == nil; k++ {
			p, o := r.varint(), r.varint()
			if p < -1 || p > 1<<31-1 || o < 0 {
				return cursor{}, errBadCursor
			}
			c.next[position{name, int32(p)}] = o //nolint:gosec // p is within int32's range, checked above
			if len(c.next) > maxCursorEntries {
				return cursor{}, errBadCursor
			}
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return cursor{}, errBadCursor
	}
	return c, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 { return read(r, binary.Uvarint) }

func (r *reader) varint() int64 { return read(r, binary.Varint) }

// read decodes the next number with decode (binary.Uvarint or
// binary.Varint); after the first malformed one, every read gives 0 and
// r.err says errBadCursor.
func read[T uint64 | int64](r *reader, decode func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := decode(r.b)
	if n <= 0 {
		r.err = errBadCursor
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) || n > 256 {
		r.err = errBadCursor
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// sortPositions orders positions by topic, then partition.
func sortPositions(ps []position) {
	slices.SortFunc(ps, func(a, b position) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
}
