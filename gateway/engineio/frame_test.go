package engineio

import (
	"bytes"
	"fmt"
	"testing"
)

// TestNewWSFrameIsExact: newWSFrame sizes its single allocation exactly, at
// every length-encoding boundary, and writes what appendWSFrame writes.
func TestNewWSFrameIsExact(t *testing.T) {
	for _, n := range []int{0, 1, 124, 125, 126, 127, 0xFFFE, 0xFFFF, 0x10000, 0x10001} {
		for _, prefix := range []int{noPrefix, int('4')} {
			t.Run(fmt.Sprintf("payload=%d/prefix=%d", n, prefix), func(t *testing.T) {
				payload := bytes.Repeat([]byte{'x'}, n)
				got := newWSFrame(opText, prefix, payload)
				if want := appendWSFrame(nil, opText, prefix, payload); !bytes.Equal(got, want) {
					t.Fatalf("frame differs from appendWSFrame's (len %d vs %d)", len(got), len(want))
				}
				if len(got) != cap(got) {
					t.Fatalf("len %d, cap %d: the size computed up front is wrong", len(got), cap(got))
				}
			})
		}
	}
}
