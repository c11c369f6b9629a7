package esdb

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreamNameMapsBothWays(t *testing.T) {
	cases := []struct{ prefix, ledger, esdb string }{
		{DefaultStreamPrefix, "douyin.S1001", "ledger-douyin.S1001"},
		{DefaultStreamPrefix, "1688.shop_9", "ledger-1688.shop_9"},
		{DefaultStreamPrefix, "pdd.a.b.c", "ledger-pdd.a.b.c"}, // the id may hold dots
		{DefaultStreamPrefix, "jd-x.A~!#", "ledger-jd-x.A~!#"},
		{"ledgertest-1a2b-", "taobao.S1", "ledgertest-1a2b-taobao.S1"},
		{"ledger.", "douyin.S1", "ledger.douyin.S1"},
	}
	for _, c := range cases {
		got, err := ToESDBName(c.prefix, c.ledger)
		require.NoError(t, err, c.ledger)
		require.Equal(t, c.esdb, got)
		back, err := FromESDBName(c.prefix, got)
		require.NoError(t, err, got)
		require.Equal(t, c.ledger, back)
	}
}

func TestInvalidLedgerStreamNamesAreRefused(t *testing.T) {
	for _, name := range []string{
		"",
		"douyin",                                 // no id
		".S1",                                    // no category
		"douyin.",                                // empty id
		"dou yin.S1",                             // space in category
		"dou$yin.S1",                             // $ in category
		"douyin.S 1",                             // space in id
		"douyin.S\x001",                          // control byte
		"douyin.S\t1",                            // tab
		"douyin.店铺",                              // non-ASCII id
		"$all.x",                                 // system-looking category
		"抖音.S1",                                  // non-ASCII category
		"d." + strings.Repeat("x", maxStreamLen), // too long
	} {
		_, err := ToESDBName(DefaultStreamPrefix, name)
		require.True(t, errors.Is(err, ErrInvalidStreamName), "%q: got %v", name, err)
	}
}

func TestInvalidPrefixesAreRefused(t *testing.T) {
	for _, p := range []string{"", "$ledger-", "$$", "led ger-", "ledger/", strings.Repeat("p", maxPrefixLen+1)} {
		require.True(t, errors.Is(ValidatePrefix(p), ErrInvalidStreamName), "%q", p)
		_, err := ToESDBName(p, "douyin.S1")
		require.True(t, errors.Is(err, ErrInvalidStreamName), "%q", p)
	}
	require.NoError(t, ValidatePrefix(DefaultStreamPrefix))
}

// EventStoreDB streams that are not ledger streams of this prefix must not
// map back: that is how ReadAll and Subscribe tell ledger events apart.
func TestForeignEventStoreDBStreamsDoNotMapBack(t *testing.T) {
	for _, name := range []string{
		"$all",
		"$$ledger-douyin.S1", // the metadata stream of a ledger stream
		"$ce-ledger",         // category projection
		"$stats-127.0.0.1:2113",
		"orders-1",
		"ledger-",                   // prefix only
		"ledger-nodot",              // under the prefix, not a ledger name
		"ledgertest-1a2b-douyin.S1", // another prefix's stream...
		"Ledger-douyin.S1",          // case matters
	} {
		got, err := FromESDBName(DefaultStreamPrefix, name)
		if name == "ledgertest-1a2b-douyin.S1" {
			// ...does not carry "ledger-", so it is foreign too.
			require.Error(t, err, "%q mapped to %q", name, got)
			continue
		}
		require.True(t, errors.Is(err, ErrInvalidStreamName), "%q mapped to %q", name, got)
	}
}
