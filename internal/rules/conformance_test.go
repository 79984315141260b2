package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The conformance table mirrors the examples of the documentation of AWS
// EventBridge, aws/event-ruler and Alibaba Cloud EventBridge. Each case
// names where it comes from:
//
//	[ruler]        github.com/aws/event-ruler README.md
//	[ruler-code]   github.com/aws/event-ruler src/main/software/amazon/event/ruler/JsonRuleCompiler.java
//	[aws-patterns] docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
//	[aws-ops]      docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
//	               (formerly eb-event-patterns-content-based-filtering.html)
//	[aws-arrays]   docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
//	[aws-null]     docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
//	[ali]          alibabacloud.com/help/en/eventbridge/user-guide/event-patterns
//	[ali-target]   alibabacloud.com/help/en/eventbridge/user-guide/event-target-parameters
//	[gatehouse]    docs/rules.md: where the documents say nothing, or Gatehouse
//	               deliberately differs (the case says how)

// rulerEvent is the sample event of event-ruler's README.
const rulerEvent = `{
  "version": "0",
  "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "012345679012",
  "time": "2017-10-02T16:24:49Z",
  "region": "us-east-1",
  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  "detail": {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    "state": "running"
  }
}`

// autoscalingEvent is [aws-null]'s and [aws-patterns]'s example event.
const autoscalingEvent = `{
  "version": "0",
  "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
  "detail-type": "EC2 Instance Launch Successful",
  "source": "aws.autoscaling",
  "account": "123456789012",
  "time": "2015-11-11T21:31:47Z",
  "region": "us-east-1",
  "resources": [],
  "detail": {
    "eventVersion": "",
    "responseElements": null
  }
}`

// macieEvent is [aws-patterns]'s "Value matching" event, cut short.
const macieEvent = `{
  "version": "0",
  "id": "3e355723-fca9-4de3-9fd7-154c289d6b59",
  "detail-type": "Macie Alert",
  "source": "aws.macie",
  "account": "123456789012",
  "time": "2017-04-24T22:28:49Z",
  "region": "us-east-1",
  "resources": [
    "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_id",
    "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id"
  ],
  "detail": {
    "notification-type": "ALERT_CREATED",
    "name": "Scanning bucket policies",
    "tags": ["Custom_Alert", "Insider"],
    "risk-score": 80,
    "trigger": {
      "rule-arn": "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id",
      "alert-type": "basic",
      "risk": 8
    }
  }
}`

// employeesEvent and employeesNested are [ruler]'s "JSON Array Matching"
// events.
const employeesEvent = `{
  "employees":[
    { "firstName":"John", "lastName":"Doe" },
    { "firstName":"Anna", "lastName":"Smith" },
    { "firstName":"Peter", "lastName":"Jones" }
  ]
}`

const employeesNested = `{
  "employees":[
    [
      { "firstName":"John", "lastName":"Doe" },
      { "firstName":"Anna", "lastName":"Smith" }
    ],
    [
      { "firstName":"Peter", "lastName":"Jones" }
    ]
  ]
}`

// ossEvent is Alibaba Cloud EventBridge's sample CloudEvent [ali].
const ossEvent = `{
  "id": "7adc8c1a-645d-4476-bdef-5d6fb57f****",
  "source": "acs.oss",
  "specversion": "1.0",
  "type": "oss:ObjectCreated:PostObject",
  "datacontenttype": "application/json",
  "dataschema": "http://example.com/test.json",
  "subject": "acs:oss:cn-hangzhou:1234567:xls-papk/game_apk/123.jpg",
  "time": "2020-08-17T16:04:46.149Asia/Shanghai",
  "data": {
    "name": "test",
    "scope": 100
  }
}`

// cloudwatchEvent fits [ruler]'s "$or" examples.
const cloudwatchEvent = `{
  "source": "aws.cloudwatch",
  "metricName": "NetworkIn",
  "namespace": "AWS/EC2",
  "metricType": "MetricType",
  "metricId": 1234,
  "scope": "Instance",
  "detail": {"source": "aws.other", "detail-type": "CloudWatch Alarm State Change"}
}`

type conformanceCase struct {
	name    string
	pattern string
	event   string
	want    bool
}

var conformanceCases = []conformanceCase{
	// ---- Exact values, AND and OR ----

	// [ruler] "Simple matching": all three fields match; resources is an
	// event array that intersects the pattern's.
	{"ruler simple", `{
	  "detail-type": [ "EC2 Instance State-change Notification" ],
	  "resources": [ "arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000" ],
	  "detail": { "state": [ "initializing", "running" ] }
	}`, rulerEvent, true},
	// [ruler] "It would also match if the value of detail.state had been initializing".
	{"ruler simple, other listed value", `{"detail": {"state": ["initializing", "running"]}}`,
		strings.Replace(rulerEvent, `"running"`, `"initializing"`, 1), true},
	// [ruler] the values of a field OR: a state in neither fails.
	{"ruler simple, unlisted value", `{"detail": {"state": ["initializing", "running"]}}`,
		strings.Replace(rulerEvent, `"running"`, `"stopped"`, 1), false},
	// [aws-patterns] the EC2 termination example: source, detail-type and detail.state AND.
	{"aws ec2 terminated", `{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}`,
		`{"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1", "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"], "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}}`, true},
	// [aws-patterns] one field failing fails the AND.
	{"aws ec2 terminated, other source", `{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}`,
		`{"source": "aws.fargate", "detail": {"state": "terminated"}}`, false},
	// [aws-patterns] "Match Values": source is either aws.ec2 or aws.fargate.
	{"aws match values", `{"source": ["aws.ec2", "aws.fargate"]}`, `{"source": "aws.fargate"}`, true},
	// [aws-patterns] a field named in the pattern must be present.
	{"aws field must be present", `{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}`, `{"source": "aws.ec2", "detail": {}}`, false},
	// [aws-patterns] the field must appear with the same nesting.
	{"aws same nesting", `{"detail": {"state": ["terminated"]}}`, `{"state": "terminated", "detail": {"x": 1}}`, false},
	// [aws-patterns] exact matching does not fold case.
	{"aws no case folding", `{"source": ["aws.ec2"]}`, `{"source": "AWS.EC2"}`, false},
	// [aws-patterns] "Value matching": numbers at two levels.
	{"aws macie value matching", `{"source": ["aws.macie"], "detail-type": ["Macie Alert"], "detail": {"risk-score": [80], "trigger": {"risk": [8]}}}`, macieEvent, true},
	{"aws macie value matching, other score", `{"detail": {"risk-score": [81], "trigger": {"risk": [8]}}}`, macieEvent, false},
	// [aws-ops] "And": Location is "New York" and Day is "Monday".
	{"aws and", `{"Location": ["New York"], "Day": ["Monday"]}`, `{"Location": "New York", "Day": "Monday"}`, true},
	{"aws and, one fails", `{"Location": ["New York"], "Day": ["Monday"]}`, `{"Location": "New York", "Day": "Tuesday"}`, false},
	// [aws-ops] "Or": PaymentType is "Credit" or "Debit".
	{"aws or values", `{"PaymentType": ["Credit", "Debit"]}`, `{"PaymentType": "Debit"}`, true},
	{"aws or values, neither", `{"PaymentType": ["Credit", "Debit"]}`, `{"PaymentType": "Cash"}`, false},
	// [aws-ops] "Equals": Name is "Alice".
	{"aws equals", `{"Name": ["Alice"]}`, `{"Name": "Alice"}`, true},
	{"aws equals, other case", `{"Name": ["Alice"]}`, `{"Name": "alice"}`, false},
	// [aws-patterns] true, false and null are values too.
	{"aws boolean", `{"detail": {"active": [true]}}`, `{"detail": {"active": true}}`, true},
	{"aws boolean is not a string", `{"detail": {"active": [true]}}`, `{"detail": {"active": "true"}}`, false},
	{"aws string is not a boolean", `{"detail": {"active": ["true"]}}`, `{"detail": {"active": true}}`, false},

	// ---- Null and empty strings [aws-null] ----

	{"aws empty string", `{"detail": {"eventVersion": [""]}}`, autoscalingEvent, true},
	{"aws null", `{"detail": {"responseElements": [null]}}`, autoscalingEvent, true},
	{"aws autoscaling field matching", `{"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance Launch Successful"], "detail": {"responseElements": [null]}}`, autoscalingEvent, true},
	// "Null values and empty strings are not interchangeable".
	{"aws null does not match empty string", `{"detail": {"eventVersion": [null]}}`, autoscalingEvent, false},
	{"aws empty string does not match null", `{"detail": {"responseElements": [""]}}`, autoscalingEvent, false},
	// [aws-ops] "Null": UserID is null; an absent UserID is not null.
	{"aws null, absent field", `{"UserID": [null]}`, `{"UserName": "x"}`, false},
	// [aws-ops] "Empty": LastName is empty.
	{"aws empty", `{"LastName": [""]}`, `{"LastName": ""}`, true},
	{"aws empty, not empty", `{"LastName": [""]}`, `{"LastName": "Doe"}`, false},

	// ---- Arrays ----

	// [aws-arrays] the first pattern value matches the event array's second element.
	{"aws arrays intersect", `{"resources": [
	    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
	    "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
	    "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`,
		`{"resources": [
	    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
	    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`, true},
	{"aws arrays disjoint", `{"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`,
		`{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`, false},
	// [aws-patterns] the Macie event's tags array.
	{"aws array of tags", `{"detail": {"tags": ["Insider"]}}`, macieEvent, true},
	// [aws-null] an empty event array has no value to match.
	{"aws empty event array", `{"resources": [""]}`, autoscalingEvent, false},
	// [ruler] "JSON Array Matching": objects in an array are treated as the field's value.
	{"ruler array of objects", `{"employees": {"firstName": ["Anna"]}}`, employeesEvent, true},
	// [ruler] two fields from one element match...
	{"ruler array of objects, same element", `{"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}`, employeesEvent, true},
	// [ruler] ...but "any two fields within JSON objects that are in different elements of the same array" do not.
	{"ruler array of objects, different elements", `{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`, employeesEvent, false},
	// [ruler] "This works for multi-level arrays too".
	{"ruler nested arrays", `{"employees": {"firstName": ["Anna"]}}`, employeesNested, true},
	{"ruler nested arrays, same element", `{"employees": {"firstName": ["Peter"], "lastName": ["Jones"]}}`, employeesNested, true},
	{"ruler nested arrays, different elements", `{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`, employeesNested, false},
	// [ruler] and in different elements of the inner array.
	{"ruler nested arrays, same outer element", `{"employees": {"firstName": ["John"], "lastName": ["Smith"]}}`, employeesNested, false},
	// [gatehouse] the rule holds at every depth: the SCIM user's emails.
	{"gatehouse scim emails, same element", `{"detail": {"user": {"emails": {"type": ["work"], "value": [{"suffix": "@example.com"}]}}}}`,
		`{"detail": {"user": {"emails": [{"type": "home", "value": "ada@home.test"}, {"type": "work", "value": "ada@example.com"}]}}}`, true},
	{"gatehouse scim emails, different elements", `{"detail": {"user": {"emails": {"type": ["work"], "value": [{"suffix": "@example.com"}]}}}}`,
		`{"detail": {"user": {"emails": [{"type": "work", "value": "ada@home.test"}, {"type": "home", "value": "ada@example.com"}]}}}`, false},
	// [gatehouse] fields outside the array combine with any element.
	{"gatehouse array and sibling", `{"source": ["x"], "employees": {"firstName": ["Peter"]}}`, strings.Replace(employeesEvent, `{`, `{"source": "x",`, 1), true},
	// [gatehouse] an array of scalars inside an element is that element's values.
	{"gatehouse array in element", `{"items": {"tags": ["b"], "id": [2]}}`, `{"items": [{"id": 1, "tags": ["a"]}, {"id": 2, "tags": ["a", "b"]}]}`, true},
	{"gatehouse array in element, different elements", `{"items": {"tags": ["b"], "id": [1]}}`, `{"items": [{"id": 1, "tags": ["a"]}, {"id": 2, "tags": ["a", "b"]}]}`, false},

	// ---- Prefix and suffix ----

	// [ruler] [aws-ops] "Prefix matching".
	{"ruler prefix", `{"time": [{"prefix": "2017-10-02"}]}`, rulerEvent, true},
	{"ruler prefix, other day", `{"time": [{"prefix": "2017-10-03"}]}`, rulerEvent, false},
	// [ruler] "Prefix matches only work on string-valued fields".
	{"ruler prefix on a number", `{"detail": {"c-count": [{"prefix": "5"}]}}`, rulerEvent, false},
	// [aws-ops] "Begins with": Region is in the US.
	{"aws prefix region", `{"Region": [{"prefix": "us-"}]}`, `{"Region": "us-east-1"}`, true},
	{"aws prefix region, eu", `{"Region": [{"prefix": "us-"}]}`, `{"Region": "eu-west-1"}`, false},
	// [gatehouse] an empty prefix matches every string (docs/events.md's "everything" rule) and nothing else.
	{"gatehouse empty prefix", `{"detail-type": [{"prefix": ""}]}`, `{"detail-type": "User.Created"}`, true},
	{"gatehouse empty prefix, number", `{"detail-type": [{"prefix": ""}]}`, `{"detail-type": 1}`, false},
	// [aws-ops] "Begins with (ignore case)": starts with "eventb", regardless of case.
	{"aws prefix ignore case", `{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}`, `{"detail": {"service": "eventbridge"}}`, true},
	{"aws prefix ignore case, upper", `{"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}`, `{"service": "EVENTBRIDGE"}`, true},
	{"aws prefix ignore case, other", `{"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}`, `{"service": "sqs"}`, false},
	// [ruler] "Suffix matching".
	{"ruler suffix", `{"source": [{"suffix": "ec2"}]}`, rulerEvent, true},
	{"ruler suffix, case", `{"source": [{"suffix": "EC2"}]}`, rulerEvent, false},
	// [aws-ops] "Ends with": FileName ends with .png.
	{"aws suffix png", `{"FileName": [{"suffix": ".png"}]}`, `{"FileName": "image.png"}`, true},
	{"aws suffix png, jpg", `{"FileName": [{"suffix": ".png"}]}`, `{"FileName": "image.jpg"}`, false},
	// [aws-ops] "Ends with (ignore case)": ends with "tbridge", or "TBRIDGE".
	{"aws suffix ignore case", `{"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}`, `{"service": "EVENTBRIDGE"}`, true},
	{"aws suffix ignore case png", `{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}`, `{"detail": {"FileName": "A.PNG"}}`, true},
	{"aws suffix ignore case, other", `{"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}`, `{"service": "bridges"}`, false},
	// [gatehouse] the seeds' e-mail domain rule.
	{"gatehouse email domain", `{"detail": {"email": [{"suffix": {"equals-ignore-case": "@Example.com"}}]}}`, `{"detail": {"email": "ada@EXAMPLE.COM"}}`, true},

	// ---- equals-ignore-case ----

	// [ruler] "Equals-ignore-case matching".
	{"ruler equals-ignore-case", `{"source": [{"equals-ignore-case": "AWS.EC2"}]}`, rulerEvent, true},
	{"ruler equals-ignore-case is whole value", `{"source": [{"equals-ignore-case": "EC2"}]}`, rulerEvent, false},
	// [aws-ops] "Equals (ignore case)": Name is "Alice".
	{"aws equals-ignore-case", `{"Name": [{"equals-ignore-case": "alice"}]}`, `{"Name": "ALICE"}`, true},
	{"aws equals-ignore-case, other name", `{"Name": [{"equals-ignore-case": "alice"}]}`, `{"Name": "Alicia"}`, false},
	// [gatehouse] Unicode simple case folding.
	{"gatehouse equals-ignore-case unicode", `{"city": [{"equals-ignore-case": "ÉCOLE"}]}`, `{"city": "école"}`, true},
	{"gatehouse equals-ignore-case on a number", `{"n": [{"equals-ignore-case": "1"}]}`, `{"n": 1}`, false},

	// ---- wildcard ----

	// [ruler] "Wildcard matching".
	{"ruler wildcard", `{"source": [{"wildcard": "Simple*Service"}]}`, `{"source": "SimpleQueueService"}`, true},
	{"ruler wildcard, zero characters", `{"source": [{"wildcard": "Simple*Service"}]}`, `{"source": "SimpleService"}`, true},
	{"ruler wildcard, no match", `{"source": [{"wildcard": "Simple*Service"}]}`, `{"source": "SimpleQueueServices"}`, false},
	// [aws-ops] "Wildcards": any .png file located within the folder "dir"; "*" also crosses "/".
	{"aws wildcard dir png", `{"FileName": [{"wildcard": "dir/*.png"}]}`, `{"FileName": "dir/image.png"}`, true},
	{"aws wildcard dir png, subfolder", `{"FileName": [{"wildcard": "dir/*.png"}]}`, `{"FileName": "dir/sub/image.png"}`, true},
	{"aws wildcard dir png, other folder", `{"FileName": [{"wildcard": "dir/*.png"}]}`, `{"FileName": "other/image.png"}`, false},
	// [aws-ops] several stars: the event bus ARN example.
	{"aws wildcard arn", `{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders"}`, true},
	{"aws wildcard arn, other region", `{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/orders"}`, false},
	// [ruler] "a wildcard character can be escaped with a backslash": \* is a literal star.
	{"ruler wildcard escaped star", `{"f": [{"wildcard": "a\\*b"}]}`, `{"f": "a*b"}`, true},
	{"ruler wildcard escaped star is literal", `{"f": [{"wildcard": "a\\*b"}]}`, `{"f": "axb"}`, false},
	// [ruler] "Two consecutive backslashes ... represents the actual backslash character".
	{"ruler wildcard escaped backslash", `{"f": [{"wildcard": "dir\\\\*"}]}`, `{"f": "dir\\file"}`, true},
	{"ruler wildcard escaped backslash, then star", `{"f": [{"wildcard": "dir\\\\*"}]}`, `{"f": "dir/file"}`, false},
	// [gatehouse] a wildcard without a star is an exact match.
	{"gatehouse wildcard without star", `{"f": [{"wildcard": "abc"}]}`, `{"f": "abc"}`, true},
	{"gatehouse wildcard only a star", `{"f": [{"wildcard": "*"}]}`, `{"f": ""}`, true},
	{"gatehouse wildcard on a number", `{"f": [{"wildcard": "*"}]}`, `{"f": 5}`, false},
	// [gatehouse] the group name managed by the gitbook target.
	{"gatehouse wildcard readers", `{"detail": {"groups": [{"wildcard": "*-readers"}]}}`, `{"detail": {"groups": ["engineering", "sales-readers"]}}`, true},

	// ---- anything-but ----

	// [ruler] [aws-ops] "Anything-but matching", string then number.
	{"ruler anything-but string", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, rulerEvent, true},
	{"ruler anything-but string, excluded", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, strings.Replace(rulerEvent, `"running"`, `"initializing"`, 1), false},
	{"ruler anything-but number", `{"detail": {"x-limit": [{"anything-but": 123}]}}`, rulerEvent, true},
	{"ruler anything-but number, excluded", `{"detail": {"x-limit": [{"anything-but": 123}]}}`, strings.Replace(rulerEvent, `301.8`, `123`, 1), false},
	// [ruler] "Anything-but list (strings)".
	{"ruler anything-but list", `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, rulerEvent, true},
	{"ruler anything-but list, excluded", `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, strings.Replace(rulerEvent, `"running"`, `"overloaded"`, 1), false},
	// [ruler] "Anything-but list (numbers)", compared as numbers: 3.0e2 is 300.
	{"ruler anything-but numbers", `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`, rulerEvent, true},
	{"ruler anything-but numbers, excluded", `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`, strings.Replace(rulerEvent, `301.8`, `3.0e2`, 1), false},
	// [ruler] "Anything-but prefix".
	{"ruler anything-but prefix", `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, rulerEvent, true},
	{"ruler anything-but prefix, excluded", `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, strings.Replace(rulerEvent, `"running"`, `"initializing"`, 1), false},
	// [aws-ops] "Anything-but (begins with)": Region is not in the US.
	{"aws anything-but prefix region", `{"Region": [{"anything-but": {"prefix": "us-"}}]}`, `{"Region": "eu-west-1"}`, true},
	{"aws anything-but prefix region, us", `{"Region": [{"anything-but": {"prefix": "us-"}}]}`, `{"Region": "us-east-1"}`, false},
	// [aws-ops] "Anything-but (ends with)": FileName does not end with .png.
	{"aws anything-but suffix", `{"FileName": [{"anything-but": {"suffix": ".png"}}]}`, `{"FileName": "a.jpg"}`, true},
	{"aws anything-but suffix, excluded", `{"FileName": [{"anything-but": {"suffix": ".png"}}]}`, `{"FileName": "a.png"}`, false},
	// [aws-ops] "Anything-but (ignore case)": any state besides initializing in any casing.
	{"aws anything-but ignore case", `{"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}`, `{"state": "running"}`, true},
	{"aws anything-but ignore case, excluded", `{"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}`, `{"state": "INITIALIZING"}`, false},
	// [aws-ops] anything-but equals-ignore-case with a list.
	{"aws anything-but ignore case list", `{"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}`, `{"state": "Stopped"}`, false},
	{"aws anything-but ignore case list, other", `{"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}`, `{"state": "running"}`, true},
	// [aws-ops] "Anything-but using a wildcard": the path does not include /lib/.
	{"aws anything-but wildcard", `{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}`, `{"FilePath": "/usr/bin/ls"}`, true},
	{"aws anything-but wildcard, excluded", `{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}`, `{"FilePath": "/usr/lib/libc.so"}`, false},
	// [aws-ops] anything-but wildcard with a list.
	{"aws anything-but wildcard list", `{"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}`, `{"FilePath": "/usr/bin/ls"}`, false},
	{"aws anything-but wildcard list, other", `{"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}`, `{"FilePath": "/etc/hosts"}`, true},
	// [gatehouse] anything-but with a list of prefixes or suffixes (the form event-ruler's compiler refuses, AWS's current documentation shows).
	{"gatehouse anything-but prefix list", `{"Region": [{"anything-but": {"prefix": ["us-", "ca-"]}}]}`, `{"Region": "ca-central-1"}`, false},
	{"gatehouse anything-but suffix list", `{"FileName": [{"anything-but": {"suffix": [".png", ".jpg"]}}]}`, `{"FileName": "a.gif"}`, true},
	// [aws-ops] "Not": Weather is anything but "Raining".
	{"aws not", `{"Weather": [{"anything-but": ["Raining"]}]}`, `{"Weather": "Sunny"}`, true},
	// [gatehouse] anything-but needs the field present.
	{"gatehouse anything-but absent field", `{"Weather": [{"anything-but": ["Raining"]}]}`, `{"Temperature": 20}`, false},
	// [gatehouse] string exclusions do not exclude numbers, null or booleans.
	{"gatehouse anything-but string vs number", `{"state": [{"anything-but": "5"}]}`, `{"state": 5}`, true},
	{"gatehouse anything-but string vs null", `{"state": [{"anything-but": "x"}]}`, `{"state": null}`, true},
	// [gatehouse] an event array matches when one of its values is not excluded.
	{"gatehouse anything-but array", `{"state": [{"anything-but": "a"}]}`, `{"state": ["a", "b"]}`, true},
	{"gatehouse anything-but array, all excluded", `{"state": [{"anything-but": ["a", "b"]}]}`, `{"state": ["a", "b"]}`, false},

	// ---- numeric ----

	// [ruler] [aws-ops] "Numeric matching": all three fields hold.
	{"ruler numeric", `{"detail": {
	    "c-count": [{"numeric": [">", 0, "<=", 5]}],
	    "d-count": [{"numeric": ["<", 10]}],
	    "x-limit": [{"numeric": ["=", 3.018e2]}]}}`, rulerEvent, true},
	{"ruler numeric, upper bound", `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}`, strings.Replace(rulerEvent, `"c-count": 5`, `"c-count": 6`, 1), false},
	{"ruler numeric, open lower bound", `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}`, strings.Replace(rulerEvent, `"c-count": 5`, `"c-count": 0`, 1), false},
	{"ruler numeric, less than", `{"detail": {"d-count": [{"numeric": ["<", 3]}]}}`, rulerEvent, false},
	// [ruler] numeric "only work[s] with values that are JSON numbers".
	{"ruler numeric on a string", `{"detail": {"instance-id": [{"numeric": [">", 0]}]}}`, `{"detail": {"instance-id": "5"}}`, false},
	// [aws-ops] "Numeric (equals)": Price is 100.
	{"aws numeric equals", `{"Price": [{"numeric": ["=", 100]}]}`, `{"Price": 100}`, true},
	// [aws-ops] "Numeric (range)": more than 10, at most 20.
	{"aws numeric range", `{"Price": [{"numeric": [">", 10, "<=", 20]}]}`, `{"Price": 20}`, true},
	{"aws numeric range, too low", `{"Price": [{"numeric": [">", 10, "<=", 20]}]}`, `{"Price": 10}`, false},
	{"aws numeric range, too high", `{"Price": [{"numeric": [">", 10, "<=", 20]}]}`, `{"Price": 20.5}`, false},
	// [ruler] numeric compares values, not spelling: 300 = 3.0e2 = 300.0.
	{"ruler numeric 300 is 3.0e2", `{"n": [{"numeric": ["=", 300]}]}`, `{"n": 3.0e2}`, true},
	{"ruler numeric 3.0e2 is 300.0", `{"n": [{"numeric": ["=", 3.0e2]}]}`, `{"n": 300.0}`, true},
	{"ruler numeric range 3e2", `{"n": [{"numeric": [">=", 300, "<", 301]}]}`, `{"n": 3E+2}`, true},
	// [ruler-code] an exact number also matches numerically ("we'll insert matchers for both the
	// literal expression and the ComparableNumber form"). [aws-patterns] still says that 300,
	// 300.0 and 3.0e2 "are not considered equal"; Gatehouse follows event-ruler.
	{"ruler-code exact number 300 is 3.0e2", `{"n": [300]}`, `{"n": 3.0e2}`, true},
	{"ruler-code exact number 300 is 300.0", `{"n": [3.0e2]}`, `{"n": 300.0}`, true},
	{"gatehouse exact number is not a string", `{"n": [300]}`, `{"n": "300"}`, false},
	{"gatehouse exact number, negative zero", `{"n": [0]}`, `{"n": -0.0}`, true},
	// [ali] the data.scope number of the OSS event.
	{"ali numeric", `{"data": {"scope": [{"numeric": [">", 10, "<=", 100]}]}}`, ossEvent, true},

	// ---- cidr ----

	// [ruler] [aws-ops] "IP Address Matching".
	{"ruler cidr", `{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}`, rulerEvent, true},
	{"ruler cidr, outside", `{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}`, strings.Replace(rulerEvent, `10.0.0.33`, `10.0.1.33`, 1), false},
	{"aws cidr sourceIPAddress", `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}`, `{"detail": {"sourceIPAddress": "10.0.0.255"}}`, true},
	// [ruler] "This also works with IPv6 addresses".
	{"ruler cidr ipv6", `{"ip": [{"cidr": "2001:db8::/32"}]}`, `{"ip": "2001:db8:1234::1"}`, true},
	{"ruler cidr ipv6, outside", `{"ip": [{"cidr": "2001:db8::/32"}]}`, `{"ip": "2001:db9::1"}`, false},
	{"gatehouse cidr ipv6 vs ipv4", `{"ip": [{"cidr": "2001:db8::/32"}]}`, `{"ip": "10.0.0.1"}`, false},
	// [gatehouse] an IPv4-mapped IPv6 address counts as its IPv4 address.
	{"gatehouse cidr mapped", `{"ip": [{"cidr": "10.0.0.0/8"}]}`, `{"ip": "::ffff:10.1.2.3"}`, true},
	{"gatehouse cidr not an address", `{"ip": [{"cidr": "10.0.0.0/8"}]}`, `{"ip": "10.0.0.x"}`, false},

	// ---- exists ----

	// [aws-ops] "Exists matching": has a detail.state field.
	{"aws exists", `{"detail": {"state": [{"exists": true}]}}`, `{"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "account": "123456789012", "time": "2015-11-11T21:29:54Z", "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"], "detail": {"instance-id": "i-abcd1111", "state": "pending"}}`, true},
	// [aws-ops] does NOT match an event without detail.state.
	{"aws exists, absent", `{"detail": {"state": [{"exists": true}]}}`, `{"detail-type": ["EC2 Instance State-change Notification"], "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"], "detail": {"c-count": {"c1": 100}}}`, false},
	// [ruler] exists true on detail.c-count.
	{"ruler exists true", `{"detail": {"c-count": [{"exists": true}]}}`, rulerEvent, true},
	{"ruler exists false, present", `{"detail": {"c-count": [{"exists": false}]}}`, rulerEvent, false},
	// [ruler] exists false matches an event without detail.c-count...
	{"ruler exists false", `{"detail": {"c-count": [{"exists": false}]}}`, `{"detail-type": ["EC2 Instance State-change Notification"], "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"], "detail": {"state": ["initializing", "running"]}}`, true},
	// [ruler] ...and "would also match the event below because c-count is not a leaf node".
	{"ruler exists false, not a leaf", `{"detail": {"c-count": [{"exists": false}]}}`, `{"detail-type": ["EC2 Instance State-change Notification"], "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"], "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}}`, true},
	// [aws-ops] "Does not exist": ProductName does not exist.
	{"aws does not exist", `{"ProductName": [{"exists": false}]}`, `{"Price": 10}`, true},
	// [gatehouse] a null value is present; an empty array holds no value.
	{"gatehouse exists null", `{"f": [{"exists": true}]}`, `{"f": null}`, true},
	{"gatehouse exists empty array", `{"f": [{"exists": true}]}`, `{"f": []}`, false},
	{"gatehouse exists false empty array", `{"f": [{"exists": false}]}`, `{"f": []}`, true},
	// [gatehouse] exists false with a parent absent altogether.
	{"gatehouse exists false, no parent", `{"detail": {"manager": [{"exists": false}]}}`, `{"source": "x"}`, true},
	// [gatehouse] exists false or a value: absent, or one of the values.
	{"gatehouse exists false or value, absent", `{"f": [{"exists": false}, "x"]}`, `{"g": 1}`, true},
	{"gatehouse exists false or value, value", `{"f": [{"exists": false}, "x"]}`, `{"f": "x"}`, true},
	{"gatehouse exists false or value, other", `{"f": [{"exists": false}, "x"]}`, `{"f": "y"}`, false},
	// [gatehouse] exists false inside an array of objects: the element that matched must lack the field.
	{"gatehouse exists false in element", `{"employees": {"firstName": ["Anna"], "middleName": [{"exists": false}]}}`,
		`{"employees": [{"firstName": "John", "middleName": "Q"}, {"firstName": "Anna"}]}`, true},
	{"gatehouse exists false in element, present", `{"employees": {"firstName": ["Anna"], "middleName": [{"exists": false}]}}`,
		`{"employees": [{"firstName": "John"}, {"firstName": "Anna", "middleName": "Q"}]}`, false},

	// ---- $or ----

	// [ruler] [aws-ops] "Normal Or": source && (metricName || namespace).
	{"ruler or", `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`, cloudwatchEvent, true},
	{"ruler or, neither", `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/ES"]}]}`, cloudwatchEvent, false},
	{"ruler or, and fails", `{"source": ["aws.ec2"], "$or": [{"metricName": ["NetworkIn"]}, {"namespace": ["AWS/EC2"]}]}`, cloudwatchEvent, false},
	// [ruler] "Parallel Or": (metricName || namespace) && (detail.source || detail.detail-type).
	{"ruler parallel or", `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
	  "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]}}`, cloudwatchEvent, true},
	{"ruler parallel or, second fails", `{"$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
	  "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["Other"]}]}}`, cloudwatchEvent, false},
	// [ruler] "Or has an And inside": source && (metricName || (metricType && namespace) || scope).
	{"ruler or with and", `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]}, {"scope": ["Service"]}]}`, cloudwatchEvent, true},
	{"ruler or with and, and fails", `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"metricType": ["Other"], "namespace": ["AWS/EC2"]}, {"scope": ["Service"]}]}`, cloudwatchEvent, false},
	// [ruler] "Nested Or and And".
	{"ruler nested or", `{"source": ["aws.cloudwatch"], "$or": [
	    {"metricName": ["CPUUtilization", "ReadLatency"]},
	    {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
	    {"scope": ["Service"]}]}`, cloudwatchEvent, true},
	{"ruler nested or, inner fails", `{"source": ["aws.cloudwatch"], "$or": [
	    {"metricName": ["CPUUtilization", "ReadLatency"]},
	    {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"], "$or": [{"metricId": [4321]}, {"spaceId": [1000]}]},
	    {"scope": ["Service"]}]}`, cloudwatchEvent, false},
	// [ruler] $or inside detail: c-count || d-count || x-limit (JsonRuleCompiler's comment).
	{"ruler-code or in detail", `{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}, {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}`, rulerEvent, true},
	// [aws-ops] "Or (multiple fields)": Location is "New York", or Day is "Monday".
	{"aws or fields", `{"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}`, `{"Location": "Boston", "Day": "Monday"}`, true},
	{"aws or fields, neither", `{"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}`, `{"Location": "Boston", "Day": "Friday"}`, false},
	// [gatehouse] $or alternatives under an array of objects still need one element.
	{"gatehouse or in array", `{"employees": {"firstName": ["Anna"], "$or": [{"lastName": ["Smith"]}, {"age": [30]}]}}`, employeesEvent, true},
	{"gatehouse or in array, other element", `{"employees": {"firstName": ["Anna"], "$or": [{"lastName": ["Jones"]}, {"age": [30]}]}}`, employeesEvent, false},

	// ---- The complex example ----

	// [ruler] [aws-ops] "Complex example".
	{"ruler complex", `{
	  "time": [{"prefix": "2017-10-02"}],
	  "detail": {
	    "state": [{"anything-but": "initializing"}],
	    "c-count": [{"numeric": [">", 0, "<=", 5]}],
	    "d-count": [{"numeric": ["<", 10]}],
	    "x-limit": [{"anything-but": [100, 200, 300]}],
	    "source-ip": [{"cidr": "10.0.0.0/8"}]}}`, rulerEvent, true},
	{"ruler complex, one fails", `{
	  "time": [{"prefix": "2017-10-02"}],
	  "detail": {
	    "state": [{"anything-but": "initializing"}],
	    "c-count": [{"numeric": [">", 0, "<=", 5]}],
	    "d-count": [{"numeric": ["<", 10]}],
	    "x-limit": [{"anything-but": [100, 200, 300]}],
	    "source-ip": [{"cidr": "11.0.0.0/8"}]}}`, rulerEvent, false},
	// [ruler] values of different kinds in one list.
	{"gatehouse mixed list", `{"detail": {"state": [{"prefix": "stop"}, "running", {"numeric": [">", 0]}]}}`, rulerEvent, true},

	// ---- Alibaba Cloud EventBridge [ali] ----

	{"ali source", `{"source": ["acs.oss"]}`, ossEvent, true},
	{"ali prefix", `{"source": [{"prefix": "acs."}]}`, ossEvent, true},
	{"ali suffix", `{"subject": [{"suffix": ".jpg"}]}`, ossEvent, true},
	{"ali suffix, other", `{"subject": [{"suffix": ".txt"}]}`, ossEvent, false},
	// [ali] contains: "type": [{"contains": "Normal"}]: the value includes the string.
	{"ali contains", `{"type": [{"contains": "ObjectCreated"}]}`, ossEvent, true},
	{"ali contains Normal", `{"type": [{"contains": "Normal"}]}`, `{"type": "ecs:Instance:NormalStop"}`, true},
	{"ali contains, absent text", `{"type": [{"contains": "Normal"}]}`, ossEvent, false},
	{"ali contains is case-sensitive", `{"type": [{"contains": "objectcreated"}]}`, ossEvent, false},
	{"ali contains on a number", `{"data": {"scope": [{"contains": "10"}]}}`, ossEvent, false},
	{"ali contains in array", `{"tags": [{"contains": "sider"}]}`, `{"tags": ["Custom_Alert", "Insider"]}`, true},
	// [ali] data.name != test AND data.scope != 100 (the rocketmq-eventbridge rule example).
	{"ali anything-but and", `{"data": {"name": [{"anything-but": "test"}], "scope": [{"anything-but": 100}]}}`, ossEvent, false},
	{"ali anything-but and, other", `{"data": {"name": [{"anything-but": "prod"}], "scope": [{"anything-but": 101}]}}`, ossEvent, true},
	// [ali] subject suffix "est" or "xxx": several operators on one field OR.
	{"ali suffixes or", `{"data": {"name": [{"suffix": "est"}, {"suffix": "xxx"}]}}`, ossEvent, true},
	{"ali cidr", `{"data": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}`, `{"data": {"source-ip": "10.0.0.7"}}`, true},
	{"ali exists false", `{"data": {"state": [{"exists": false}]}}`, ossEvent, true},

	// ---- Events spelled differently ----

	// [gatehouse] escapes in event strings and keys are decoded before matching.
	{"gatehouse escaped event string", `{"detail": {"email": ["ada@example.com"]}}`, `{"detail": {"email": "ada\u0040example.com"}}`, true},
	{"gatehouse escaped event key", `{"detail": {"email": ["ada@example.com"]}}`, `{"det\u0061il": {"email": "ada@example.com"}}`, true},
	{"gatehouse escaped pattern string", `{"detail": {"email": ["ada\u0040example.com"]}}`, `{"detail": {"email": "ada@example.com"}}`, true},
	// [gatehouse] a key that appears twice in an event: the last one counts, as in encoding/json.
	{"gatehouse duplicate event key", `{"detail": {"state": ["a"]}}`, `{"detail": {"state": "a", "state": "b"}}`, false},
	{"gatehouse duplicate event key, last", `{"detail": {"state": ["b"]}}`, `{"detail": {"state": "a", "state": "b"}}`, true},
	// [ruler] dotted keys are not paths (Gatehouse keeps them apart, unlike event-ruler's caveat).
	{"gatehouse dotted key", `{"detail": {"state": {"status": ["running"]}}}`, `{"detail": {"state.status": "running"}}`, false},
	{"gatehouse dotted key in pattern", `{"detail": {"state.status": ["running"]}}`, `{"detail": {"state.status": "running"}}`, true},
}

// conformanceRefusals are patterns that must be refused, with the path the
// PatternError must name.
var conformanceRefusals = []struct {
	name, pattern, path, msg string
}{
	// [ruler] "consecutive wildcard characters are not allowed".
	{"wildcard double star", `{"source": [{"wildcard": "Simple**Service"}]}`, "source[0].wildcard", `"**"`},
	// [ruler] "A backslash escaping any character other than asterisk or backslash is not allowed".
	{"wildcard bad escape", `{"f": [{"wildcard": "a\\b"}]}`, "f[0].wildcard", "backslash"},
	{"wildcard trailing backslash", `{"f": [{"wildcard": "a\\"}]}`, "f[0].wildcard", "backslash"},
	// [gatehouse] at most MaxWildcards stars.
	{"wildcard too many stars", `{"f": [{"wildcard": "*a*b*c*d*e*"}]}`, "f[0].wildcard", "at most 5"},
	// [ruler] [aws-ops] "Exists matching only works on leaf nodes": an operator object in place of a field's value.
	{"exists on a non-leaf", `{"detail": {"exists": true}}`, "detail.exists", "operators go inside the value array"},
	{"exists object not in array", `{"detail": {"c-count": {"exists": false}}}`, "detail.c-count.exists", "operators go inside the value array"},
	{"exists not a boolean", `{"f": [{"exists": "yes"}]}`, "f[0].exists", "true or false"},
	// [ruler-code] numeric: one lower and one upper bound at most.
	{"numeric two lower bounds", `{"f": [{"numeric": [">", 0, ">", 5]}]}`, "f[0].numeric[2]", "two lower bounds"},
	{"numeric two upper bounds", `{"f": [{"numeric": ["<", 0, "<=", 5]}]}`, "f[0].numeric[2]", "two upper bounds"},
	{"numeric equals and bound", `{"f": [{"numeric": ["=", 0, "<", 5]}]}`, "f[0].numeric[0]", `"=" cannot be combined`},
	{"numeric unknown operator", `{"f": [{"numeric": ["!=", 0]}]}`, "f[0].numeric[0]", "unknown numeric operator"},
	{"numeric string bound", `{"f": [{"numeric": [">", "5"]}]}`, "f[0].numeric[1]", "must be followed by a number"},
	{"numeric odd length", `{"f": [{"numeric": [">", 0, "<"]}]}`, "f[0].numeric", "3 elements"},
	{"numeric not an array", `{"f": [{"numeric": 5}]}`, "f[0].numeric", "numeric takes an array"},
	{"numeric empty range", `{"f": [{"numeric": [">", 5, "<", 5]}]}`, "f[0].numeric", "empty"},
	// [ruler-code] "There must have at least 2 Objects in $or relationship".
	{"or empty", `{"source": ["x"], "$or": []}`, "$or", "at least two objects"},
	{"or one element", `{"$or": [{"source": ["x"]}]}`, "$or", "at least two objects"},
	{"or not an array", `{"$or": {"source": ["x"]}}`, "$or", "must be an array"},
	// [ruler-code] "Only JSON object is allowed in array of $or relationship".
	{"or element not an object", `{"$or": [{"source": ["x"]}, ["y"]]}`, "$or[1]", "must be an object"},
	{"or nested path", `{"detail": {"$or": [{"a": ["x"]}, {"b": "y"}]}}`, "detail.$or[1].b", "array of values"},
	// [ruler-code] reserved names inside $or.
	{"or operator as field", `{"$or": [{"numeric": 123}, {"prefix": "abc"}]}`, "$or[0].numeric", `operators go inside the value array of a leaf field: write {"field": [{"numeric": …}]}`},
	{"operator as top-level field", `{"prefix": "abc"}`, "prefix", `write {"field": [{"prefix": …}]}`},
	{"operator as nested field", `{"detail": {"prefix": "abc"}}`, "detail.prefix", `write {"detail": [{"prefix": …}]}`},
	// [ruler-code] "\"%s\" must be an object or an array": a leaf that is not an array.
	{"leaf not an array", `{"source": "aws.ec2"}`, "source", "array of values"},
	{"leaf null", `{"detail": {"state": null}}`, "detail.state", "array of values"},
	{"leaf number", `{"detail": {"count": 5}}`, "detail.count", "array of values"},
	// [ruler-code] "Empty arrays are not allowed", "Empty objects are not allowed".
	{"leaf empty array", `{"source": []}`, "source", "empty array"},
	{"empty pattern", `{}`, "", "empty object"},
	{"empty nested object", `{"detail": {}}`, "detail", "empty object"},
	{"not an object", `["source"]`, "", "must be a JSON object"},
	{"array in value list", `{"f": [["x"]]}`, "f[0]", "may not contain arrays"},
	// [ruler-code] "Only one key allowed in match expression". [ali-target]'s FilterPattern example
	// {"subject": [{"prefix": …, "suffix": …}]} is refused too, with a way to say it.
	{"operator two keys", `{"subject": [{"prefix": "acs:oss:cn-hangzhou:123456789098****:my-movie-bucket/", "suffix": ".txt"}]}`, "subject[0]", `exactly one key, this one has 2; give each operator its own object, [{"prefix": …}, {"suffix": …}], which match if either holds; to require a prefix and a suffix together, use {"wildcard": "prefix*suffix"}`},
	{"operator no key", `{"f": [{}]}`, "f[0]", "exactly one key"},
	// [ruler-code] "Unrecognized match type".
	{"unknown operator", `{"f": [{"regex": "a.*"}]}`, "f[0].regex", "unknown operator"},
	{"prefix not a string", `{"f": [{"prefix": 1}]}`, "f[0].prefix", "takes a string"},
	{"prefix ignore case not a string", `{"f": [{"prefix": {"equals-ignore-case": 1}}]}`, "f[0].prefix.equals-ignore-case", "takes a string"},
	{"prefix other inner operator", `{"f": [{"prefix": {"wildcard": "a*"}}]}`, "f[0].prefix.wildcard", "not allowed"},
	{"equals-ignore-case not a string", `{"f": [{"equals-ignore-case": ["a"]}]}`, "f[0].equals-ignore-case", "takes a string"},
	{"contains not a string", `{"f": [{"contains": 1}]}`, "f[0].contains", "takes a string"},
	// [ruler-code] anything-but lists "either all values are number or string".
	{"anything-but mixed list", `{"f": [{"anything-but": ["a", 1]}]}`, "f[0].anything-but[1]", "only strings or only numbers"},
	{"anything-but null", `{"f": [{"anything-but": [null]}]}`, "f[0].anything-but[0]", "strings or numbers"},
	{"anything-but boolean", `{"f": [{"anything-but": true}]}`, "f[0].anything-but", "anything-but takes"},
	{"anything-but empty list", `{"f": [{"anything-but": []}]}`, "f[0].anything-but", "empty array"},
	// [ruler-code] "Null prefix/suffix not allowed".
	{"anything-but empty prefix", `{"f": [{"anything-but": {"prefix": ""}}]}`, "f[0].anything-but.prefix", "would exclude every string"},
	{"anything-but empty suffix in list", `{"f": [{"anything-but": {"suffix": [".png", ""]}}]}`, "f[0].anything-but.suffix[1]", "would exclude every string"},
	// [ruler-code] "Unsupported anything-but pattern".
	{"anything-but exists", `{"f": [{"anything-but": {"exists": true}}]}`, "f[0].anything-but.exists", "anything-but takes"},
	{"anything-but numeric", `{"f": [{"anything-but": {"numeric": [">", 1]}}]}`, "f[0].anything-but.numeric", "anything-but takes"},
	{"anything-but ignore case number", `{"f": [{"anything-but": {"equals-ignore-case": 1}}]}`, "f[0].anything-but.equals-ignore-case", "takes a string"},
	{"anything-but wildcard double star", `{"f": [{"anything-but": {"wildcard": ["*/lib/*", "a**"]}}]}`, "f[0].anything-but.wildcard[1]", `"**"`},
	// [gatehouse] a CIDR block must parse.
	{"cidr bad prefix length", `{"ip": [{"cidr": "10.0.0.0/33"}]}`, "ip[0].cidr", "not a CIDR block"},
	{"cidr address only", `{"ip": [{"cidr": "10.0.0.1"}]}`, "ip[0].cidr", "not a CIDR block"},
	// [aws-ops] "if you include a key more than once the last reference will be the one used";
	// Gatehouse refuses the pattern instead of silently dropping a condition.
	{"duplicate key", `{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}`, "detail.location", "duplicate field"},
	// [gatehouse] JSON errors name where they are.
	{"invalid json", `{"detail": {"state": ["a",]}}`, "detail.state[1]", "invalid JSON"},
	{"trailing garbage", `{"a": ["x"]} x`, "", "after the end"},
	{"unterminated", `{"a": ["x"`, "a", "unexpected end"},
	{"keys with dots bracketed", `{"detail": {"a.b": "x"}}`, `detail["a.b"]`, "array of values"},
}

// conformanceMatch runs one case through every way of matching and returns
// what they said.
func conformanceMatch(t *testing.T, name string, p *Pattern, event []byte) bool {
	t.Helper()
	m, err := Compile(map[string]*Pattern{name: p})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	ids, err := m.Match(event)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	got := len(ids) == 1
	if diff := cmp.Diff(ids, m.MatchValue(decodeUseNumber(t, event))); diff != "" {
		t.Errorf("MatchValue (json.Number) differs from Match (-Match +MatchValue):\n%s", diff)
	}
	var floats any
	if err := json.Unmarshal(event, &floats); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, m.MatchValue(floats)); diff != "" {
		t.Errorf("MatchValue (float64) differs from Match (-Match +MatchValue):\n%s", diff)
	}
	if ref := refMatch(p, decodeUseNumber(t, event)); ref != got {
		t.Errorf("the reference evaluator says %v, Match %v", ref, got)
	}
	ok, why := Explain(p, event)
	if ok != got {
		t.Errorf("Explain says %v (%s), Match %v", ok, why, got)
	}
	if why == "" {
		t.Errorf("Explain gave no reason")
	}
	return got
}

func TestConformance(t *testing.T) {
	patterns := map[string]*Pattern{}
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePattern([]byte(c.pattern))
			if err != nil {
				t.Fatalf("ParsePattern: %v", err)
			}
			if _, dup := patterns[c.name]; dup {
				t.Fatalf("two cases are named %q", c.name)
			}
			patterns[c.name] = p
			if got := conformanceMatch(t, c.name, p, []byte(c.event)); got != c.want {
				_, why := Explain(p, []byte(c.event))
				t.Errorf("match = %v, want %v (%s)\npattern %s\nevent %s", got, c.want, why, c.pattern, c.event)
			}
			// The canonical form matches the same.
			p2, err := ParsePattern([]byte(p.String()))
			if err != nil {
				t.Fatalf("ParsePattern(%s): %v", p, err)
			}
			if got := conformanceMatch(t, c.name, p2, []byte(c.event)); got != c.want {
				t.Errorf("canonical %s: match = %v, want %v", p, got, c.want)
			}
		})
	}
	if t.Failed() {
		return
	}

	// All the patterns in one matcher: each event matches exactly the
	// rules that match it alone.
	all, err := Compile(patterns)
	if err != nil {
		t.Fatal(err)
	}
	singles := map[string]*Matcher{}
	for id, p := range patterns {
		singles[id], _ = Compile(map[string]*Pattern{id: p})
	}
	events := map[string]bool{}
	for _, c := range conformanceCases {
		events[c.event] = true
	}
	for ev := range events {
		var want []string
		for id, sm := range singles {
			if got, _ := sm.Match([]byte(ev)); len(got) == 1 {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		got, err := all.Match([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("one matcher for all %d rules, event %s (-alone +together):\n%s", len(patterns), ev, diff)
		}
		if diff := cmp.Diff(want, all.MatchValue(decodeUseNumber(t, []byte(ev)))); diff != "" {
			t.Errorf("one matcher for all, MatchValue, event %s (-alone +together):\n%s", ev, diff)
		}
	}
	for _, c := range conformanceCases {
		got, _ := all.Match([]byte(c.event))
		if slices.Contains(got, c.name) != c.want {
			t.Errorf("%s: in the matcher of all rules: match = %v, want %v", c.name, !c.want, c.want)
		}
	}
}

func TestConformanceRefusals(t *testing.T) {
	for _, c := range conformanceRefusals {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePattern([]byte(c.pattern))
			if err == nil {
				t.Fatalf("ParsePattern(%s) = %s, want an error at %s", c.pattern, p, c.path)
			}
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PatternError", err, err)
			}
			if pe.Path != c.path {
				t.Errorf("Path = %q, want %q (%v)", pe.Path, c.path, err)
			}
			if !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("Msg = %q, want it to mention %q", pe.Msg, c.msg)
			}
			if pe.Line < 1 || pe.Column < 1 {
				t.Errorf("Line, Column = %d, %d", pe.Line, pe.Column)
			}
			wantPrefix := fmt.Sprintf("line %d, column %d: at ", pe.Line, pe.Column)
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("Error() = %q, want it to start with %q", err, wantPrefix)
			}
		})
	}
}

// TestRefusalLimits covers the size limits, which do not fit in a table.
func TestRefusalLimits(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxPatternDepth+1) + `["x"]` + strings.Repeat(`}`, MaxPatternDepth+1)
	// Eleven $or of two alternatives each: 2^11 = 2048 alternatives.
	var ors []string
	for i := range 11 {
		ors = append(ors, fmt.Sprintf(`"k%d": {"$or": [{"a": ["x"]}, {"b": ["y"]}]}`, i))
	}
	wide := "{" + strings.Join(ors, ",") + "}"
	big := `{"a": ["` + strings.Repeat("x", MaxPatternBytes) + `"]}`
	for _, c := range []struct{ name, src, msg string }{
		{"depth", deep, "nests deeper than"},
		{"alternatives", wide, "more than 1024 alternatives"},
		{"size", big, "longer than"},
		{"utf-8", "{\"a\": [\"\xff\"]}", "not valid UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePattern([]byte(c.src))
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PatternError", err)
			}
			if !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("Msg = %q, want it to mention %q", pe.Msg, c.msg)
			}
		})
	}
	// Ten $or of two (1024 alternatives) are allowed.
	if _, err := ParsePattern([]byte("{" + strings.Join(ors[:10], ",") + "}")); err != nil {
		t.Errorf("1024 alternatives: %v", err)
	}
}

// TestExplainConformance checks what Explain says on a few documented
// cases, beyond its verdict.
func TestExplainConformance(t *testing.T) {
	for _, c := range []struct {
		pattern, event string
		want           bool
		why            string
	}{
		{`{"detail": {"state": ["initializing"]}}`, rulerEvent, false, `detail.state: "running" is not one of ["initializing"]`},
		{`{"detail": {"state": ["running"]}}`, rulerEvent, true, `detail.state: "running" matches "running"`},
		{`{"detail": {"manager": ["x"]}}`, rulerEvent, false, `detail.manager: field is absent`},
		{`{"detail": {"c-count": [{"numeric": [">", 5]}]}}`, rulerEvent, false, `detail.c-count: 5 is not > 5`},
		{`{"detail": {"c-count": [{"exists": false}]}}`, rulerEvent, false, `detail.c-count: field is present (5) but {"exists": false} requires it absent`},
		{`{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`, employeesEvent, false, "not within one element of an array"},
		{`{"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}`, `{"Location": "Boston", "Day": "Friday"}`, false, `no alternative of $or matches: (1) Location: "Boston" is not one of ["New York"]; (2) Day: "Friday" is not one of ["Monday"]`},
		{`{"source": [{"prefix": "acs."}]}`, `{"source": "aws.ec2"}`, false, `source: "aws.ec2" does not start with "acs."`},
		{`{"ip": [{"cidr": "10.0.0.0/24"}]}`, `{"ip": "10.0.1.1"}`, false, `ip: "10.0.1.1" is not in 10.0.0.0/24`},
		{`{"a": ["x"]}`, `[1]`, false, "the event is not valid"},
	} {
		ok, why := Explain(MustParsePattern(c.pattern), []byte(c.event))
		if ok != c.want || !strings.Contains(why, c.why) {
			t.Errorf("Explain(%s) = %v, %q; want %v and a reason containing %q", c.pattern, ok, why, c.want, c.why)
		}
	}
}
