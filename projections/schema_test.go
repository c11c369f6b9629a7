package projections

import "testing"

func TestSchemasValidateAndTablesAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, f := range All() {
		s := f().Schema()
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, tb := range s.Tables {
			if other, dup := seen[tb.Name]; dup {
				t.Fatalf("table %s in %s and %s", tb.Name, other, s.Projection)
			}
			seen[tb.Name] = s.Projection
		}
	}
}
