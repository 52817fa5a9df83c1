package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayGrowsAndStaysWithinBounds(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 5*time.Second
	for n := 1; n <= 40; n++ {
		want := hi
		if n < 32 && lo<<(n-1) > 0 && lo<<(n-1) < hi {
			want = lo << (n - 1)
		}
		for range 50 {
			if d := Delay(n, lo, hi); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on an ended context reported that the hour passed")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep did not report that its millisecond passed")
	}
}
