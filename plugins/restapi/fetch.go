package restapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/eltproject/elt/plugins/sdk"
	"github.com/tidwall/gjson"
)

// page is one response's records.
type page struct {
	number int // 1-based
	// array is the JSON text of the records array, a slice of the body
	// ("" for none).
	array string
	// records are the array's elements, parsed on first use (recs).
	records []gjson.Result
	parsed  bool
	bytes   int
}

// recs returns the page's records, parsing the array on first use.
func (p *page) recs() []gjson.Result {
	if !p.parsed {
		p.parsed = true
		if p.array != "" {
			p.records = make([]gjson.Result, 0, 64)
			gjson.Parse(p.array).ForEach(func(_, v gjson.Result) bool {
				p.records = append(p.records, v)
				return true
			})
		}
	}
	return p.records
}

// empty reports whether the page has no records, without parsing them.
func (p *page) empty() bool {
	if p.parsed {
		return len(p.records) == 0
	}
	a := strings.TrimSpace(strings.TrimPrefix(p.array, "["))
	return a == "" || a[0] == ']'
}

// fetcher walks the pages of one window. It is used by one goroutine.
type fetcher struct {
	cfg     *Config
	client  *http.Client
	auth    func(*http.Request)
	limit   *limiter
	secrets []string
	vars    map[string]string // {start}, {end}, {cursor}, {partition}

	requests, retries int
	// sizeHint is the last page's body size: pages are usually alike, so
	// the buffer is sized up front.
	sizeHint int
}

// authFunc builds the request decorator from the auth resource. Credential
// values never appear in errors.
func authFunc(a *Auth, res map[string]sdk.Resource) (func(*http.Request), []string, error) {
	if a == nil {
		return func(*http.Request) {}, nil, nil
	}
	r, ok := res[a.Resource]
	if !ok {
		return nil, nil, fmt.Errorf("auth.resource %q is not a resource of the project", a.Resource)
	}
	if r.Type != "" && r.Type != "http" {
		return nil, nil, fmt.Errorf("auth.resource %q has type %s; it must be an http resource", a.Resource, r.Type)
	}
	c := r.Config
	secrets := []string{}
	for _, k := range []string{"token", "password", "value"} {
		if v := c[k]; v != "" {
			secrets = append(secrets, v)
		}
	}
	switch {
	case c["token"] != "":
		tok := c["token"]
		return func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+tok) }, secrets, nil
	case c["username"] != "":
		user, pass := c["username"], c["password"]
		return func(req *http.Request) { req.SetBasicAuth(user, pass) }, secrets, nil
	case c["header"] != "":
		h, v := c["header"], c["value"]
		return func(req *http.Request) { req.Header.Set(h, v) }, secrets, nil
	}
	return nil, nil, fmt.Errorf("auth.resource %q sets none of token (bearer), username/password (basic) or header/value", a.Resource)
}

// expand replaces {start}, {end}, {cursor} and {partition} in s.
func (f *fetcher) expand(s string, escape func(string) string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", escape(v))
	}
	return s
}

// firstURL is base_url + path with the params, placeholders expanded.
func (f *fetcher) firstURL() (*url.URL, error) {
	raw := f.cfg.BaseURL
	if f.cfg.Path != "" {
		raw = strings.TrimRight(raw, "/") + "/" + strings.TrimLeft(f.expand(f.cfg.Path, url.PathEscape), "/")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base_url and path make a bad URL: %w", err)
	}
	q := u.Query()
	for _, k := range sortedKeys(f.cfg.Params) {
		q.Set(k, f.expand(f.cfg.Params[k], func(s string) string { return s }))
	}
	u.RawQuery = q.Encode()
	return u, nil
}

func withParam(u *url.URL, kv ...string) *url.URL {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	c.RawQuery = q.Encode()
	return &c
}

// walk requests the window's pages in order and hands each to out.
func (f *fetcher) walk(ctx context.Context, out func(page) error) error {
	p := f.cfg.Pagination
	first, err := f.firstURL()
	if err != nil {
		return err
	}
	pageNo := 1
	if p.StartPage != nil {
		pageNo = *p.StartPage
	}
	offset := 0
	size := strconv.Itoa(p.PageSize)
	u := first
	switch p.Type {
	case "page":
		u = withParam(first, p.PageParam, strconv.Itoa(pageNo))
		if p.SizeParam != "" && p.PageSize > 0 {
			u = withParam(u, p.SizeParam, size)
		}
	case "offset":
		u = withParam(first, p.OffsetParam, "0", p.SizeParam, size)
	}
	seen := map[string]bool{}
	for n := 1; ; n++ {
		if n > p.MaxPages {
			return fmt.Errorf("stopped after pagination.max_pages (%d) pages; raise it if the API really has more", p.MaxPages)
		}
		body, hdr, err := f.get(ctx, u)
		if err != nil {
			return err
		}
		doc := parseTop(body)
		array, err := doc.records(f.cfg.Records)
		if err != nil {
			return fmt.Errorf("page %d (%s): %w", n, f.safeURL(u), err)
		}
		pg := page{number: n, array: array, bytes: len(body)}
		if p.Type == "page" || p.Type == "offset" {
			pg.recs() // the page's length decides whether there is another
		}
		f.sizeHint = len(body)
		count := len(pg.records)
		more := !pg.empty()
		if err := out(pg); err != nil {
			return err
		}
		seen[u.String()] = true
		var next *url.URL
		switch p.Type {
		case "cursor":
			c := doc.get(p.CursorPath)
			if more && c.Exists() && c.Type != gjson.Null && c.String() != "" {
				next = withParam(first, p.CursorParam, c.String())
			}
		case "next_link":
			if l := gjson.GetBytes(body, p.NextPath).String(); l != "" {
				next, err = u.Parse(l)
			}
		case "link_header":
			if l := linkNext(hdr.Values("Link")); l != "" {
				next, err = u.Parse(l)
			}
		case "page":
			if count > 0 && (p.PageSize <= 0 || count >= p.PageSize) {
				pageNo++
				next = withParam(u, p.PageParam, strconv.Itoa(pageNo))
			}
		case "offset":
			if count >= p.PageSize {
				offset += count
				next = withParam(u, p.OffsetParam, strconv.Itoa(offset))
			}
		}
		if err != nil {
			return fmt.Errorf("page %d: next page link: %w", n, err)
		}
		if next == nil || seen[next.String()] {
			return nil
		}
		u = next
	}
}

// topDoc is a response body with its top-level object's members found in
// one pass: the records and the pagination values are then read without
// scanning the body again for each.
type topDoc struct {
	js      string
	members map[string]gjson.Result // nil unless the body is an object
}

// parseTop indexes body's top-level members. body must not change
// afterwards: results point into it.
func parseTop(body []byte) topDoc {
	var d topDoc
	if len(body) == 0 {
		return d
	}
	// No copy: gjson only reads, and body is never written again.
	d.js = unsafe.String(&body[0], len(body))
	r := gjson.Parse(d.js)
	if r.IsObject() {
		d.members = map[string]gjson.Result{}
		r.ForEach(func(k, v gjson.Result) bool {
			if _, dup := d.members[k.Str]; !dup { // gjson reads the first
				d.members[k.Str] = v
			}
			return true
		})
	}
	return d
}

// get returns the value at a gjson path: from the member index when the
// path starts with a plain key, else by gjson over the whole body.
func (d topDoc) get(path string) gjson.Result {
	head, rest, nested := strings.Cut(path, ".")
	if d.members == nil || !simplePath(head) {
		return gjson.Get(d.js, path)
	}
	v, ok := d.members[head]
	if !ok || !nested {
		return v
	}
	return v.Get(rest)
}

// records returns the JSON text of the array of records at path ("" for
// the whole body), "" when there are none.
func (d topDoc) records(path string) (string, error) {
	if strings.TrimSpace(d.js) == "" { // 204 or an empty 200: no records
		return "", nil
	}
	var r gjson.Result
	if path == "" {
		r = gjson.Parse(d.js)
	} else {
		r = d.get(path)
	}
	switch {
	case r.IsArray():
		return r.Raw, nil
	case !r.Exists() || r.Type == gjson.Null:
		if !gjson.Valid(d.js) {
			return "", errors.New("response body is not JSON")
		}
		return "", nil
	}
	return "", fmt.Errorf("records path %q holds %s, not an array of records", path, r.Type)
}

// safeURL is a URL fit for messages: no query (which may carry keys),
// secrets redacted.
func (f *fetcher) safeURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.User, c.Fragment = "", nil, ""
	return redact(c.String(), f.secrets)
}

// get fetches u, retrying 429, 5xx and network errors with exponential
// backoff or the server's Retry-After, within the context's deadline.
func (f *fetcher) get(ctx context.Context, u *url.URL) ([]byte, http.Header, error) {
	backoff := time.Duration(f.cfg.RetryBackoff)
	for attempt := 0; ; attempt++ {
		if err := f.limit.wait(ctx); err != nil {
			return nil, nil, context.Cause(ctx)
		}
		f.requests++
		body, hdr, code, err := f.once(ctx, u)
		if err == nil && code >= 200 && code < 300 {
			return body, hdr, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("GET %s: %w", f.safeURL(u), context.Cause(ctx))
		}
		var what string
		if err != nil {
			what = redact(err.Error(), f.secrets)
		} else {
			what = fmt.Sprintf("HTTP %d %s", code, snippet(body, f.secrets))
		}
		if err == nil && code != http.StatusTooManyRequests && code < 500 {
			return nil, nil, fmt.Errorf("GET %s: %s", f.safeURL(u), what)
		}
		if attempt >= *f.cfg.MaxRetries {
			return nil, nil, fmt.Errorf("GET %s: giving up after %d attempts: %s", f.safeURL(u), attempt+1, what)
		}
		delay := backoff << attempt
		if delay > time.Minute || delay <= 0 {
			delay = time.Minute
		}
		if ra, ok := retryAfter(hdr.Get("Retry-After"), time.Now()); ok {
			delay = ra
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(delay).After(dl) {
			return nil, nil, fmt.Errorf("GET %s: %s; waiting %s to retry would pass the step's deadline", f.safeURL(u), what, delay)
		}
		f.retries++
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("GET %s: %w", f.safeURL(u), context.Cause(ctx))
		case <-t.C:
		}
	}
}

// once makes one request bounded by the per-request timeout.
func (f *fetcher) once(ctx context.Context, u *url.URL) ([]byte, http.Header, int, error) {
	rctx, cancel := context.WithTimeoutCause(ctx, time.Duration(f.cfg.RequestTimeout),
		fmt.Errorf("request took longer than request_timeout (%s)", time.Duration(f.cfg.RequestTimeout)))
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	// Credentials go only to the configured API's host, never to a host a
	// next link points at.
	if base, err := url.Parse(f.cfg.BaseURL); err == nil && strings.EqualFold(base.Host, u.Host) {
		f.auth(req)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return nil, nil, 0, context.Cause(rctx)
		}
		return nil, nil, 0, errors.Unwrap(err) // drop url.Error's URL, which may carry a query
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if n := max(resp.ContentLength, int64(f.sizeHint)+512); n > 0 && n < 1<<30 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return nil, nil, 0, context.Cause(rctx)
		}
		return nil, nil, 0, fmt.Errorf("reading the response body: %w", err)
	}
	return buf.Bytes(), resp.Header, resp.StatusCode, nil
}

func snippet(b []byte, secrets []string) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return redact(s, secrets)
}

func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

// maxRetryAfter bounds a believable Retry-After; a longer one is ignored
// (the usual backoff applies) rather than stalling the step for days.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxRetryAfter/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		d = 0
	case d > maxRetryAfter:
		return 0, false
	}
	return d, true
}

// linkNext returns the target of rel="next" in Link header values.
func linkNext(values []string) string {
	for _, v := range values {
		for v != "" {
			lt := strings.IndexByte(v, '<')
			if lt < 0 {
				break
			}
			gt := strings.IndexByte(v[lt:], '>')
			if gt < 0 {
				break
			}
			target := v[lt+1 : lt+gt]
			rest := v[lt+gt+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(p), ",")), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
			v = rest
		}
	}
	return ""
}

// limiter spaces requests at most rate per second (a token bucket of one
// token). Used by one goroutine.
type limiter struct {
	every time.Duration
	next  time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	now := time.Now()
	if l.next.After(now) {
		t := time.NewTimer(l.next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		now = l.next
	}
	l.next = now.Add(l.every)
	return nil
}
