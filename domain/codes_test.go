package domain

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// rulesMDIDs are the platform rule IDs of RULES.md (the product
// specification). Every one must be a code some profile reports, and every
// code a profile reports must be one of them or a generic code: a typo in
// a profile would otherwise ship a code no client knows.
var rulesMDIDs = []string{
	"1688.confirm.window",
	"1688.enroll.agreement",
	"1688.funds.insufficient",
	"1688.order.count",
	"1688.order.payment_kind",
	"1688.order.status",
	"1688.payout.half_cash",
	"1688.payout.order_max",
	"1688.shop.daily_amount",
	"1688.shop.daily_count",
	"1688.staff.permission",
	"dy.funds.insufficient",
	"dy.funds.no_account",
	"dy.lifecycle",
	"dy.order.age",
	"dy.order.cap",
	"dy.order.channel",
	"dy.order.count",
	"dy.order.cross_border",
	"dy.order.payment_mode",
	"dy.order.rate",
	"dy.shop.daily_amount",
	"dy.shop.personal_account",
	"dy.shop.status",
	"dy.staff.daily",
	"dy.staff.per_payout",
	"dy.staff.permission",
	"jd.enroll.after_sales",
	"jd.enroll.agreement",
	"jd.enroll.shop_type",
	"jd.enroll.wallet",
	"jd.funds.arrears",
	"jd.funds.insufficient",
	"jd.limits",
	"jd.order.status",
	"jd.records.export",
	"jd.staff.daily",
	"jd.staff.per_payout",
	"jd.staff.permission",
	"jd.verify.sms",
	"pdd.fail.account_card",
	"pdd.fail.close",
	"pdd.input.required",
	"pdd.order.age",
	"pdd.order.count",
	"pdd.order.group",
	"pdd.order.rate",
	"pdd.payout.max",
	"pdd.payout.min",
	"pdd.refund.not_returned",
	"pdd.route.approval",
	"pdd.route.scan_only",
	"pdd.shop.daily_amount",
	"pdd.shop.unpaid_bills",
	"pdd.topup.window",
	"tb.card.cancel",
	"tb.card.window",
	"tb.collect.order_total",
	"tb.collect.reason",
	"tb.enroll.agreement",
}

// profileCodes collects every string field named Code or *Code in a
// profile, however deeply nested.
func profileCodes(v reflect.Value, name string, out map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			profileCodes(v.Elem(), name, out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				profileCodes(v.Field(i), v.Type().Field(i).Name, out)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			profileCodes(v.Index(i), name, out)
		}
	case reflect.String:
		if (name == "Code" || strings.HasSuffix(name, "Code")) && v.String() != "" {
			out[v.String()] = true
		}
	}
}

func TestEveryRulesMDIDIsAProfileCode(t *testing.T) {
	codes := map[string]bool{}
	for _, p := range Platforms() {
		pr, _ := LookupProfile(p)
		profileCodes(reflect.ValueOf(pr), "", codes)
		// LimitCodes fields are named after the limit, not *Code.
		l := reflect.ValueOf(pr.LimitCodes)
		for i := 0; i < l.NumField(); i++ {
			if s := l.Field(i).String(); s != "" {
				codes[s] = true
			}
		}
	}
	want := map[string]bool{}
	for _, id := range rulesMDIDs {
		want[id] = true
		if !codes[id] {
			t.Errorf("RULES.md rule %s is reported by no profile", id)
		}
	}
	var extra []string
	for c := range codes {
		if !want[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("profiles report codes that are not RULES.md rule IDs: %v", extra)
	}
}
