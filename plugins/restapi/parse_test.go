package restapi

import (
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/plugins/sdk"
	"github.com/tidwall/gjson"
)

func TestLinkNext(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"github style", []string{`<https://a.test/x?page=2>; rel="next", <https://a.test/x?page=9>; rel="last"`}, "https://a.test/x?page=2"},
		{"next second", []string{`<https://a.test/1>; rel="prev", <https://a.test/3>; rel="next"`}, "https://a.test/3"},
		{"several rels", []string{`</p/3>; rel="next last"`}, "/p/3"},
		{"unquoted and case", []string{`</p/3>; REL=Next`}, "/p/3"},
		{"comma in URL", []string{`<https://a.test/x?ids=1,2>; rel="next"`}, "https://a.test/x?ids=1,2"},
		{"second header value", []string{`</p/1>; rel="first"`, `</p/2>; rel="next"`}, "/p/2"},
		{"no next", []string{`</p/1>; rel="prev"`}, ""},
		{"malformed", []string{`rel="next"`, `<unterminated; rel="next"`}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := linkNext(tt.values); got != tt.want {
				t.Errorf("linkNext(%q) = %q, want %q", tt.values, got, tt.want)
			}
		})
	}
}

func FuzzLinkNext(f *testing.F) {
	f.Add(`<https://a.test/x?page=2>; rel="next", <https://a.test/x?page=9>; rel="last"`)
	f.Add(`<a>;rel=next,<b>`)
	f.Add(`<<>>;;rel="";,`)
	f.Fuzz(func(t *testing.T, v string) {
		got := linkNext([]string{v})
		if got != "" && !strings.Contains(v, "<"+got+">") {
			t.Errorf("linkNext(%q) = %q, which is not a <target> of the header", v, got)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"999999999", 0, false},
		{"Sun, 10 Mar 2024 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 10 Mar 2024 11:00:00 GMT", 0, true},  // in the past: retry now
		{"Wed, 01 Oct 2200 00:00:00 GMT", 0, false}, // not believable
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, time.Now())
		if d < 0 || (!ok && d != 0) || d > maxRetryAfter {
			t.Errorf("retryAfter(%q) = %s, %v", v, d, ok)
		}
	})
}

func TestIntervals(t *testing.T) {
	at := time.Date(2024, 3, 13, 17, 45, 10, 0, time.UTC) // a Wednesday
	tests := []struct {
		interval  string
		trunc     string
		nextStart string
	}{
		{"hourly", "2024-03-13T17:00:00Z", "2024-03-13T18:00:00Z"},
		{"daily", "2024-03-13T00:00:00Z", "2024-03-14T00:00:00Z"},
		{"weekly", "2024-03-11T00:00:00Z", "2024-03-18T00:00:00Z"},
		{"monthly", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"},
		{"15m", "2024-03-13T17:45:00Z", "2024-03-13T18:00:00Z"},
	}
	for _, tt := range tests {
		iv, err := parseInterval(tt.interval)
		if err != nil {
			t.Fatal(err)
		}
		tr := iv.truncate(at)
		if got := tr.Format(time.RFC3339); got != tt.trunc {
			t.Errorf("%s: truncate = %s, want %s", tt.interval, got, tt.trunc)
		}
		if got := iv.next(tr).Format(time.RFC3339); got != tt.nextStart {
			t.Errorf("%s: next = %s, want %s", tt.interval, got, tt.nextStart)
		}
	}
	for _, bad := range []string{"", "fortnightly", "-5m", "0s"} {
		if _, err := parseInterval(bad); err == nil {
			t.Errorf("parseInterval(%q) accepted", bad)
		}
	}
}

func TestUnpartitionedWindows(t *testing.T) {
	now := time.Date(2024, 3, 12, 1, 30, 0, 0, time.UTC)
	tests := []struct {
		name   string
		window Window
		cursor string
		want   string
		err    string
	}{
		{"from start to now minus lag", Window{Interval: "daily", Lag: Duration(2 * time.Hour), Start: "2024-03-09"}, "",
			"2024-03-09T00:00:00Z..2024-03-10T00:00:00Z 2024-03-10T00:00:00Z..2024-03-11T00:00:00Z", ""},
		{"cursor wins over start", Window{Interval: "daily", Start: "2024-01-01"}, "2024-03-11T00:00:00Z",
			"2024-03-11T00:00:00Z..2024-03-12T00:00:00Z", ""},
		{"the current interval is never read", Window{Interval: "hourly"}, "2024-03-12T00:00:00Z",
			"2024-03-12T00:00:00Z..2024-03-12T01:00:00Z", ""},
		{"up to date", Window{Interval: "daily"}, "2024-03-12T00:00:00Z", "", ""},
		{"unaligned start is clipped", Window{Interval: "daily"}, "2024-03-11T06:00:00Z",
			"2024-03-11T06:00:00Z..2024-03-12T00:00:00Z", ""},
		{"no start, no cursor", Window{Interval: "daily"}, "", "", "window.start is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := unpartitionedWindows(&tt.window, tt.cursor, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("windows = %v\nwant      %s", got, tt.want)
			}
		})
	}
}

func TestBackfillRangeWalksWindowsInOrder(t *testing.T) {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	ws, err := partitionWindows(&Window{Interval: "daily"}, start, start.AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || !ws[0].Start.Equal(start) || !ws[2].End.Equal(start.AddDate(0, 0, 3)) || !ws[1].Start.Equal(ws[0].End) {
		t.Errorf("windows = %v", ws)
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		json, typ, format string
		want              any
		err               bool
	}{
		{`12`, typeBigint, "", int64(12), false},
		{`"12"`, typeBigint, "", int64(12), false},
		{`1e3`, typeBigint, "", int64(1000), false},
		{`1.5`, typeBigint, "", nil, true},
		{`1.5`, typeDouble, "", 1.5, false},
		{`"x"`, typeDouble, "", nil, true},
		{`true`, typeBoolean, "", true, false},
		{`"false"`, typeBoolean, "", false, false},
		{`{"a":1}`, typeVarchar, "", `{"a":1}`, false},
		{`"caf\u00e9"`, typeVarchar, "", "café", false},
		{`null`, typeBigint, "", nil, false},
		{`"2024-03-09T10:00:00+02:00"`, typeTimestamp, "rfc3339", time.Date(2024, 3, 9, 8, 0, 0, 0, time.UTC), false},
		{`"2024-03-09 10:00:00"`, typeTimestamp, "", time.Date(2024, 3, 9, 10, 0, 0, 0, time.UTC), false},
		{`1710000000`, typeTimestamp, "unix", time.Unix(1710000000, 0).UTC(), false},
		{`"1710000000000"`, typeTimestamp, "unix_ms", time.UnixMilli(1710000000000).UTC(), false},
		{`"2024-03-09"`, typeTimestamp, "date", time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), false},
		{`"09/03/2024"`, typeTimestamp, "02/01/2006", time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), false},
		{`"yesterday"`, typeTimestamp, "rfc3339", nil, true},
	}
	for _, tt := range tests {
		got, err := convert(gjson.Parse(tt.json), tt.typ, tt.format)
		if (err != nil) != tt.err {
			t.Errorf("convert(%s, %s) error = %v, want error %v", tt.json, tt.typ, err, tt.err)
			continue
		}
		if tm, ok := tt.want.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tm) {
				t.Errorf("convert(%s, %s) = %v, want %v", tt.json, tt.typ, got, tm)
			}
			continue
		}
		if !tt.err && got != tt.want {
			t.Errorf("convert(%s, %s) = %#v, want %#v", tt.json, tt.typ, got, tt.want)
		}
	}
}

func TestInferType(t *testing.T) {
	tests := []struct {
		values string
		want   string
	}{
		{`[1, 2, null]`, typeBigint},
		{`[1, 2.5]`, typeDouble},
		{`[true, false]`, typeBoolean},
		{`["a", 1]`, typeVarchar},
		{`[true, 1]`, typeVarchar},
		{`[null]`, typeVarchar},
		{`[[1], {"a": 1}]`, typeVarchar},
		{`["2024-03-09T10:00:00Z", null, "2024-03-09T10:00:00.5+02:00"]`, typeTimestamp},
		{`["2024-03-09T10:00:00Z", "soon"]`, typeVarchar},
		{`["2024-03-09T10:00:00Z", 5]`, typeVarchar},
	}
	for _, tt := range tests {
		var recs []gjson.Result
		for _, v := range gjson.Parse(tt.values).Array() {
			recs = append(recs, gjson.Parse(`{"v": `+v.Raw+`}`))
		}
		if got := inferType(recs, "v"); got != tt.want {
			t.Errorf("inferType(%s) = %s, want %s", tt.values, got, tt.want)
		}
	}
}

func FuzzConfig(f *testing.F) {
	f.Add(`{"base_url": "https://a.test", "destination": {"resource": "w", "table": "raw/x"}, "window": {"interval": "daily", "lag": "2h"}}`)
	f.Add(`{"base_url": "http://a", "pagination": {"type": "offset"}, "request_timeout": 3, "columns": {"a": "int"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := decodeConfig(sdk.Config(s))
		if err != nil {
			return
		}
		// A valid configuration has its defaults filled and an asset key.
		if cfg.RequestTimeout <= 0 || cfg.MaxRetries == nil || cfg.Pagination.MaxPages <= 0 {
			t.Errorf("defaults missing: %+v", cfg)
		}
		if _, err := cfg.AssetKey(); err != nil {
			t.Errorf("valid config without an asset key: %v", err)
		}
	})
}

func FuzzRecordTime(f *testing.F) {
	f.Add(`"2024-03-09T10:00:00Z"`, "rfc3339")
	f.Add(`1710000000.5`, "unix")
	f.Add(`"2024-03-09"`, "date")
	f.Fuzz(func(t *testing.T, raw, format string) {
		v := gjson.Parse(raw)
		if tm, err := parseRecordTime(v, format); err == nil && tm.Location() != time.UTC {
			t.Errorf("parseRecordTime(%s, %s) = %v, not UTC", raw, format, tm)
		}
	})
}
