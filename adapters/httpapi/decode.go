package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// decodeJSON reads one JSON object into v, the domain command itself (no
// intermediate struct): unknown fields and trailing data are refused.
// Amounts decode through decimal.Decimal's own UnmarshalJSON, from a
// string ("12.50") or a number (12.50), never through float64. An empty
// body leaves v zero: commands whose fields are all in the path take none.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(http.StatusBadRequest, CodeTrailingData, "the body holds more than one JSON value")
	}
	return nil
}

// jsonError classifies a decoding error. Messages name the field, never
// echo the value.
func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fail(http.StatusBadRequest, CodeMalformedJSON, "the body is not a valid JSON object")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fail(http.StatusBadRequest, CodeMalformedJSON, "the body must be a JSON object")
		}
		return fail(http.StatusBadRequest, CodeInvalidField, "field "+typ.Field+" must be a JSON "+jsonKind(typ.Type.Kind().String())).with("field", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fail(http.StatusBadRequest, CodeUnknownField, "unknown field "+f).with("field", f)
	case errors.As(err, &tpe):
		return fail(http.StatusBadRequest, CodeInvalidField, "a time field is not RFC 3339")
	}
	// What remains are the values' own decoders (decimal amounts, times)
	// refusing their text.
	return fail(http.StatusBadRequest, CodeInvalidField, "a field value cannot be read (amounts are decimal strings such as \"12.50\", times RFC 3339)")
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return k
}

// binder copies path values into a command, refusing a body value that
// contradicts one (an equal value is fine: clients may send the full
// command).
type binder struct {
	r   *http.Request
	err *apiError
}

func (b *binder) mismatch(field string) {
	if b.err == nil {
		b.err = fail(http.StatusBadRequest, CodePathMismatch, "body field "+field+" contradicts the path").with("field", field)
	}
}

func (b *binder) ref(dst *domain.Ref) {
	p, s := domain.PlatformID(b.r.PathValue("platform")), b.r.PathValue("shop")
	if dst.Platform != "" && dst.Platform != p {
		b.mismatch("platform")
	}
	if dst.ShopID != "" && dst.ShopID != s {
		b.mismatch("shop_id")
	}
	dst.Platform, dst.ShopID = p, s
}

func (b *binder) str(param, field string, dst *string) {
	v := b.r.PathValue(param)
	if *dst != "" && *dst != v {
		b.mismatch(field)
	}
	*dst = v
}

func (b *binder) kind(dst *domain.AccountKind) {
	s := string(*dst)
	b.str("kind", "kind", &s)
	*dst = domain.AccountKind(s)
}

// validID is the domain's ID alphabet (1-64 of A-Z a-z 0-9 _ -): IDs are
// subject tokens and path segments.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// printable reports whether s is 1-200 bytes of printable ASCII (the
// Idempotency-Key and X-Correlation-Id alphabet).
func printable(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Bounds of an amount's representation. The domain checks money rules
// (two decimals, positive, limits); these only keep a number like 1e9999
// or 0.(9999 digits) from costing the server time and memory in the
// arithmetic and JSON encoding that follow.
const (
	maxAmountDigits = 30 // significant digits
	minAmountExp    = -18
	maxAmountExp    = 18
)

func checkAmount(field string, d *decimal.Decimal) *apiError {
	if d == nil {
		return nil
	}
	if e := d.Exponent(); e < minAmountExp || e > maxAmountExp || d.NumDigits() > maxAmountDigits {
		return fail(http.StatusBadRequest, CodeAmountRange, "field "+field+" is not a representable amount of money").with("field", field)
	}
	return nil
}

func checkLimits(prefix string, l *domain.Limits) *apiError {
	for _, f := range []struct {
		n string
		d *decimal.Decimal
	}{{"per_payout_max", l.PerPayoutMax}, {"per_order_max", l.PerOrderMax}, {"daily_amount", l.DailyAmount}, {"proceeds_daily_amount", l.ProceedsDailyAmount}} {
		if err := checkAmount(prefix+f.n, f.d); err != nil {
			return err
		}
	}
	return nil
}

// checkAmounts applies checkAmount to every amount of a command. A type
// switch, not reflection: the set of commands is closed.
func checkAmounts(cmd domain.Command) *apiError {
	var err *apiError
	switch c := cmd.(type) {
	case domain.EnrollShop:
		err = checkLimits("limits.", &c.Limits)
	case domain.SetShopLimits:
		if err = checkLimits("limits.", &c.Limits); err == nil {
			err = checkAmount("password_free_threshold", c.PasswordFreeThreshold)
		}
	case domain.TopUp:
		err = checkAmount("amount", &c.Amount)
	case domain.CreditProceeds:
		err = checkAmount("amount", &c.Amount)
	case domain.FreezeFunds:
		err = checkAmount("amount", &c.Amount)
	case domain.UnfreezeFunds:
		err = checkAmount("amount", &c.Amount)
	case domain.SetArrears:
		err = checkAmount("amount", &c.Amount)
	case domain.GrantStaffQuota:
		if err = checkAmount("per_payout", c.PerPayout); err == nil {
			err = checkAmount("per_day", c.PerDay)
		}
	case domain.ChangeStaffQuota:
		if err = checkAmount("per_payout", c.PerPayout); err == nil {
			err = checkAmount("per_day", c.PerDay)
		}
	case domain.RegisterOrder:
		if err = checkAmount("cash_paid", &c.CashPaid); err == nil {
			err = checkAmount("other_paid", &c.OtherPaid)
		}
	case domain.RecordOrderRefund:
		err = checkAmount("amount", &c.Amount)
	case domain.RecordPlatformShippingRefund:
		err = checkAmount("amount", &c.Amount)
	case domain.InitiatePayout:
		err = checkAmount("amount", &c.Amount)
	case domain.SendCollectionCard:
		err = checkAmount("amount", &c.Amount)
	}
	return err
}

// jsonMediaType reports whether a Content-Type is application/json (with
// optional parameters such as charset).
func jsonMediaType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}
