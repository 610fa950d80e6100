package sioclient

import "testing"

func TestSplitLastString(t *testing.T) {
	tests := []struct {
		payload, rest, last string
		ok                  bool
	}{
		{`{"a":1},"12.tag"`, `{"a":1}`, "12.tag", true},
		{`{"a":1} , "12.tag" `[:len(`{"a":1} , "12.tag"`)], `{"a":1}`, "12.tag", true},
		{`1,2,"x"`, `1,2`, "x", true},
		{`"only"`, "", "", false}, // a lone string is the event's own argument
		{`{"a":1}`, "", "", false},
		{`{"a":1},"esc\"aped"`, "", "", false},
		{`{"a":"x,"}`, "", "", false},
		{``, "", "", false},
	}
	for _, tt := range tests {
		rest, last, ok := splitLastString([]byte(tt.payload))
		if ok != tt.ok || string(rest) != tt.rest || string(last) != tt.last {
			t.Errorf("splitLastString(%q) = (%q, %q, %v), want (%q, %q, %v)", tt.payload, rest, last, ok, tt.rest, tt.last, tt.ok)
		}
	}
}
