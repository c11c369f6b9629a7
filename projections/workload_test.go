package projections

import (
	"sort"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/projections/projtest"
)

// After a random workload across the five platforms, followed live by the
// runtime on the embedded store: (1) the live rows equal a fresh rebuild;
// (2) the projections agree with the decision state the domain itself
// built for every shop (domain.Shop: daily and staff totals under the
// counting rule, accounts, payout statuses, warnings), an independent
// implementation of the same rules.
func TestRandomWorkloadRebuildEqualsLiveAndAgreesWithTheDomain(t *testing.T) {
	seed, _ := seeded(t)
	w := projtest.NewWorkload(seed)
	st, err := OpenEmbedded(t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	rt := newRuntime(t, w.Log, st, nil, All()...)
	stop := runLive(rt)
	for i := 0; i < 20; i++ {
		w.Run(150) // while the runtime follows
	}
	head := uint64(w.Log.Len())
	eventually(t, "caught up", func() bool {
		for _, s := range rt.Status() {
			require.Nil(t, s.Err)
			if s.Applied < head {
				return false
			}
		}
		return len(rt.Status()) == len(All())
	})
	t.Logf("%d commands: %d accepted, %d refused; %d events", w.Accepted+w.Rejected, w.Accepted, w.Rejected, head)

	streams := make([]string, 0, len(w.Shops))
	for s := range w.Shops {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	checked := map[string]int{}
	require.NoError(t, View(rt, QuotaUsageName, func(q *QuotaUsage) error {
		for _, sn := range streams {
			s := w.Shops[sn]
			for day, tot := range s.Daily {
				u := q.ShopDay(s.Ref, day)
				require.Equal(t, int64(tot.Count), u.Count, "%s %s count", sn, day)
				require.True(t, tot.Amount.Equal(u.Amount), "%s %s amount %s vs %s", sn, day, tot.Amount, u.Amount)
				require.True(t, tot.ProceedsAmount.Equal(u.ProceedsAmount), "%s %s proceeds", sn, day)
				checked["shop days"]++
			}
			for staff, days := range s.StaffDaily {
				for day, tot := range days {
					u := q.StaffDay(s.Ref, staff, day)
					require.Equal(t, int64(tot.Count), u.Count, "%s %s %s count", sn, staff, day)
					require.True(t, tot.Amount.Equal(u.Amount), "%s %s %s amount", sn, staff, day)
					checked["staff days"]++
				}
			}
			for staff, quota := range s.Staff {
				sq, ok := q.StaffQuota(s.Ref, staff)
				require.True(t, ok)
				require.Equal(t, quota.Enabled, sq.Enabled)
				require.Equal(t, money(quota.PerDay), money(sq.PerDay))
			}
			eff := s.EffectiveLimits()
			l, ok := q.Limits(s.Ref)
			require.True(t, ok)
			require.Equal(t, money(eff.DailyAmount), money(l.Effective.DailyAmount), sn)
			require.Equal(t, count(eff.DailyCount), count(l.Effective.DailyCount), sn)
		}
		// No usage the domain does not have.
		for _, u := range q.shopDay.all() {
			if u.Count != 0 {
				require.Equal(t, int(u.Count), w.Shops[u.Shop.Stream()].DayTotals(u.Day).Count)
			}
		}
		return nil
	}))
	require.NoError(t, View(rt, FundingBalancesName, func(f *FundingBalances) error {
		for _, sn := range streams {
			s := w.Shops[sn]
			require.Len(t, f.Shop(s.Ref), len(s.Accounts), sn)
			for kind, a := range s.Accounts {
				b, ok := f.Account(s.Ref, kind)
				require.True(t, ok)
				require.True(t, a.Balance.Equal(b.Balance), "%s %s balance %s vs %s", sn, kind, a.Balance, b.Balance)
				require.True(t, a.Frozen.Equal(b.Frozen), "%s %s frozen", sn, kind)
				require.True(t, a.Held.Equal(b.Held), "%s %s held %s vs %s", sn, kind, a.Held, b.Held)
				require.True(t, a.Arrears.Equal(b.Arrears), "%s %s arrears", sn, kind)
				require.True(t, a.Available().Equal(b.Available()), "%s %s available", sn, kind)
				checked["accounts"]++
			}
		}
		return nil
	}))
	require.NoError(t, View(rt, PayoutRecordsName, func(p *PayoutRecords) error {
		for _, sn := range streams {
			s := w.Shops[sn]
			for id, po := range s.Payouts {
				r, ok := p.Get(s.Ref, id)
				require.True(t, ok)
				require.Equal(t, po.Status, r.Status, "%s %s", sn, id)
				require.Equal(t, po.CardExpired, r.CardExpired, "%s %s", sn, id)
				checked["payouts"]++
				checked[string(po.Status)]++
			}
		}
		return nil
	}))
	require.NoError(t, View(rt, ApprovalsName, func(a *Approvals) error {
		for _, sn := range streams {
			s := w.Shops[sn]
			var want, got []string
			for id, po := range s.Payouts {
				if po.Status == domain.StatusAwaitingApproval {
					want = append(want, id)
				}
			}
			for _, r := range a.Pending(s.Ref) {
				got = append(got, r.PayoutID)
			}
			sort.Strings(want)
			sort.Strings(got)
			require.Equal(t, want, got, sn)
		}
		return nil
	}))
	require.NoError(t, View(rt, DuplicateWarningsName, func(d *DuplicateWarnings) error {
		for _, sn := range streams {
			s := w.Shops[sn]
			open := 0
			for _, x := range s.Warnings {
				if !x.Acknowledged {
					open++
				}
				checked["warnings"]++
			}
			require.Len(t, d.Open(s.Ref), open, sn)
		}
		return nil
	}))
	require.NoError(t, stop())
	t.Logf("checked against the domain: %v", checked)
	for _, k := range []string{"shop days", "staff days", "accounts", "payouts", "warnings", "succeeded", "failed", "pending"} {
		require.Positive(t, checked[k], "the workload exercised %s", k)
	}
	requireEqualsReplay(t, w.Log, st, All()...)
}

func money(d *decimal.Decimal) string {
	if d == nil {
		return "-"
	}
	return d.String()
}

func count(n *int) int {
	if n == nil {
		return -1
	}
	return *n
}
