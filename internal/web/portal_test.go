package web

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAnswerParts: citations of results shown become parts of their own;
// other bracketed numbers, and everything else, stay text.
func TestAnswerParts(t *testing.T) {
	for _, tt := range []struct {
		text    string
		results int
		want    []answerPart
	}{
		{"", 3, nil},
		{"No citation.", 3, []answerPart{{Text: "No citation."}}},
		{"[1]", 1, []answerPart{{N: 1}}},
		{"Connect [1][2], see [4] and [0].", 2, []answerPart{{Text: "Connect "}, {N: 1}, {N: 2}, {Text: ", see [4] and [0]."}}},
		{"导入配置文件后连接 [1]。", 1, []answerPart{{Text: "导入配置文件后连接 "}, {N: 1}, {Text: "。"}}},
		{"[1] <b>x</b> [9999]", 5, []answerPart{{N: 1}, {Text: " <b>x</b> [9999]"}}},
	} {
		if diff := cmp.Diff(tt.want, answerParts(tt.text, tt.results), cmp.AllowUnexported(answerPart{})); diff != "" {
			t.Errorf("answerParts(%q, %d): -want +got\n%s", tt.text, tt.results, diff)
		}
	}
}
