package validate

import (
	"strings"
	"testing"
)

// TestPaginationDepth: a page number reaches at most MaxOffset rows; past
// that the error names the largest page for the pageSize and the cursor.
func TestPaginationDepth(t *testing.T) {
	for _, tc := range []struct {
		page, size int
		want       string // "" valid, else a substring of the message
	}{
		{1, 1, ""},
		{1, MaxPageSize, ""},
		{MaxOffset / 50, 50, ""},
		{MaxOffset/50 + 1, 50, "page: must be between 1 and 200 with pageSize 50"},
		{MaxOffset / MaxPageSize, MaxPageSize, ""},
		{MaxOffset/MaxPageSize + 1, MaxPageSize, "nextCursor"},
		{MaxOffset, 1, ""},
		{MaxOffset + 1, 1, "must be between 1 and 10000 with pageSize 1"},
		{999_999_999, 20, "must be between 1 and 500 with pageSize 20"},
		{0, 20, "page: must be between 1 and 500 with pageSize 20"},
		{1, 0, "pageSize: must be between 1 and 100"},
		{1, MaxPageSize + 1, "pageSize"},
	} {
		err := Pagination(tc.page, tc.size)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Pagination(%d, %d): %v, want valid", tc.page, tc.size, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Pagination(%d, %d): %v, want %q", tc.page, tc.size, err, tc.want)
		}
	}
}
