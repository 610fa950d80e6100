package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
)

// jsonErrorCase is one POST /api/v1/rooms with a malformed or invalid JSON
// body, answered by the original stack (Nest 7.6, body-parser 1.19, Node
// 20). testdata/nest7_json_body_errors.json was recorded from that stack
// with a generator of truncated and mutated documents plus hand-picked
// inputs (whitespace runs, byte order marks, invalid UTF-8, astral
// characters, long sources that get "..." context).
type jsonErrorCase struct {
	Body     string `json:"body"` // base64 of the exact request bytes
	Response string `json:"response"`
}

func TestJSONBodyErrorsMatchNest(t *testing.T) {
	raw, err := os.ReadFile("testdata/nest7_json_body_errors.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []jsonErrorCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d recorded cases; the corpus is damaged", len(cases))
	}
	srv, _ := newTestServer(t)
	for _, tc := range cases {
		body, err := base64.StdEncoding.DecodeString(tc.Body)
		if err != nil {
			t.Fatalf("case %q: %v", tc.Body, err)
		}
		resp, err := http.Post(srv.URL+"/api/v1/rooms", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest || string(got) != tc.Response {
			t.Errorf("body %q:\n got %d %s\nwant 400 %s", body, resp.StatusCode, got, tc.Response)
		}
	}
}
