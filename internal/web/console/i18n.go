package console

import (
	"fmt"
	"net/http"
)

// The console speaks the sign-in pages' languages (internal/web, chosen
// by Accept-Language): English and Chinese (Simplified). Every key is in
// both maps (TestConsoleStrings in this package checks it).

// Lang is a page's language: the console's strings, then the sign-in
// pages' (brand, error.title…).
type Lang struct {
	Tag  string
	msgs map[string]string
	site interface{ T(string) string }
}

// T returns message key in the page's language.
func (l *Lang) T(key string) string {
	if m, ok := l.msgs[key]; ok {
		return m
	}
	if m, ok := english[key]; ok {
		return m
	}
	return l.site.T(key)
}

// F formats message key with args.
func (l *Lang) F(key string, args ...any) string {
	if len(args) == 0 {
		return l.T(key)
	}
	return fmt.Sprintf(l.T(key), args...)
}

func (c *Console) lang(r *http.Request) *Lang {
	sl := c.opt.Site.Lang(r)
	if sl.Tag == "zh-Hans" {
		return &Lang{Tag: sl.Tag, msgs: chinese, site: sl}
	}
	return &Lang{Tag: sl.Tag, msgs: english, site: sl}
}

var english = map[string]string{
	"console":                  "Console",
	"skip":                     "Skip to the content",
	"nav.label":                "Console sections",
	"nav.dashboard":            "Dashboard",
	"signed-in-as":             "Signed in as %s",
	"via.sso":                  "your account",
	"via.token":                "admin token",
	"logout":                   "Sign out",
	"signin.title":             "Sign in to the console",
	"signin.sso":               "Administrators sign in with their own account (two factors).",
	"signin.sso.link":          "Sign in with your account",
	"signin.token.intro":       "Or type an admin token (an application's bearer token with the admin scope). It is exchanged for a console session; the token is not kept in the browser.",
	"signin.token":             "Admin token",
	"signin.submit":            "Sign in with the token",
	"signin.token.missing":     "Type an admin token.",
	"signin.token.invalid":     "This token is not valid (unknown, disabled or expired).",
	"signin.token.scope":       "This credential cannot administer Gatehouse: the console takes bearer tokens of applications with the admin scope.",
	"signin.token.throttled":   "Too many failed attempts from your address. Wait a minute and try again.",
	"dashboard.title":          "Dashboard",
	"err.forbidden":            "Only Gatehouse administrators may open the console: a member of an administrators' group (login.admin_groups) signed in with two factors, or an admin token.",
	"err.csrf":                 "The form could not be accepted (it came from another site, or it is too old). Reload the page and try again.",
	"err.form":                 "The form could not be read.",
	"err.notfound":             "There is no such page in the console.",
	"err.internal":             "Gatehouse could not do this. Try again later.",
	"err.https":                "The console needs HTTPS (set base_url to an https URL), or login.insecure_dev_cookies for development.",
	"none":                     "None.",
	"nav.users":                "Users",
	"nav.groups":               "Groups",
	"nav.orgs":                 "Organizations",
	"users.title":              "Users",
	"groups.title":             "Groups",
	"orgs.title":               "Organizations",
	"user.title":               "User",
	"group.title":              "Group",
	"search.filter":            "SCIM filter",
	"search.submit":            "Search",
	"search.hint.users":        "The SCIM filter language, as on /scim/v2/Users: userName sw \"ada\", emails.value co \"@example.com\" and active eq true, meta.created gt \"2026-11-01T00:00:00Z\". Empty: everyone, oldest first.",
	"search.hint.groups":       "The SCIM filter language, as on /scim/v2/Groups: displayName sw \"eng\", members.value eq \"<user id>\". Empty: every group.",
	"search.total":             "%d found.",
	"pager":                    "Pages",
	"pager.first":              "First page",
	"pager.next":               "Next page",
	"user.userName":            "User name",
	"user.displayName":         "Display name",
	"user.email":               "Email",
	"user.state":               "State",
	"user.active":              "active",
	"user.inactive":            "inactive",
	"user.groups":              "Groups",
	"group.displayName":        "Name",
	"group.members":            "Members (%d)",
	"org":                      "Organization",
	"org.name":                 "Name",
	"org.externalId":           "External id",
	"org.people":               "People",
	"id":                       "Id",
	"created":                  "Created",
	"modified":                 "Modified",
	"journey.title":            "Journey",
	"journey.origin":           "Created by",
	"journey.pruned":           "the earliest record left; older ones were pruned",
	"journey.externalId":       "Known to",
	"journey.truncated":        "The account has more history than a journey shows: these are the most recent steps.",
	"journey.delivery":         "Delivery to",
	"journey.attempts":         "attempts",
	"journey.earlier":          "Written before these rules came into force:",
	"nav.audit":                "Audit log",
	"audit.title":              "Audit log",
	"audit.actor":              "Actor (application id)",
	"audit.resource":           "Resource id",
	"audit.action":             "Action",
	"audit.since":              "Since",
	"audit.until":              "Until",
	"audit.time":               "Time",
	"audit.hint":               "As gatehouse audit list: an action or its prefix (user.create, login.), times in RFC 3339 or dates (UTC). Newest first.",
	"audit.records":            "Records",
	"audit.verify":             "Verify the chain",
	"audit.verify.title":       "Verification",
	"audit.verify.ok":          "The chain of %d records is intact.",
	"audit.verify.bad":         "The chain has %d problems: see below.",
	"audit.verify.result":      "Result",
	"audit.verify.intact":      "intact",
	"audit.verify.broken":      "broken",
	"audit.verify.records":     "Records",
	"audit.verify.head":        "Head hash",
	"audit.verify.checkpoints": "Checkpoints",
	"audit.verify.cp":          "%d read, %d matched, %d pruned since",
	"audit.verify.unsealed":    "Not sealed yet",
	"pager.older":              "Older records",
}

var chinese = map[string]string{
	"console":                  "控制台",
	"skip":                     "跳到正文",
	"nav.label":                "控制台栏目",
	"nav.dashboard":            "概览",
	"signed-in-as":             "当前登录：%s",
	"via.sso":                  "个人账号",
	"via.token":                "管理令牌",
	"logout":                   "退出",
	"signin.title":             "登录控制台",
	"signin.sso":               "管理员使用自己的账号登录（需要两个因素）。",
	"signin.sso.link":          "使用账号登录",
	"signin.token.intro":       "也可以输入管理令牌（具有 admin 权限的应用的 Bearer 令牌）。它将换成控制台会话，浏览器中不保存令牌。",
	"signin.token":             "管理令牌",
	"signin.submit":            "使用令牌登录",
	"signin.token.missing":     "请输入管理令牌。",
	"signin.token.invalid":     "该令牌无效（未知、已停用或已过期）。",
	"signin.token.scope":       "该凭据无权管理 Gatehouse：控制台只接受具有 admin 权限的应用的 Bearer 令牌。",
	"signin.token.throttled":   "来自您地址的失败尝试过多，请稍等一分钟后重试。",
	"dashboard.title":          "概览",
	"err.forbidden":            "只有 Gatehouse 管理员可以打开控制台：管理员组（login.admin_groups）的成员以两个因素登录，或使用管理令牌。",
	"err.csrf":                 "无法接受该表单（来自其他网站或已过期）。请刷新页面后重试。",
	"err.form":                 "无法读取该表单。",
	"err.notfound":             "控制台中没有这个页面。",
	"err.internal":             "Gatehouse 无法完成此操作，请稍后重试。",
	"err.https":                "控制台需要 HTTPS（将 base_url 设为 https 地址），开发时可设置 login.insecure_dev_cookies。",
	"none":                     "无。",
	"nav.users":                "用户",
	"nav.groups":               "用户组",
	"nav.orgs":                 "组织",
	"users.title":              "用户",
	"groups.title":             "用户组",
	"orgs.title":               "组织",
	"user.title":               "用户",
	"group.title":              "用户组",
	"search.filter":            "SCIM 过滤条件",
	"search.submit":            "搜索",
	"search.hint.users":        "使用 SCIM 过滤语法，与 /scim/v2/Users 相同：userName sw \"ada\"、emails.value co \"@example.com\" and active eq true、meta.created gt \"2026-11-01T00:00:00Z\"。留空：全部用户，按创建时间排序。",
	"search.hint.groups":       "使用 SCIM 过滤语法，与 /scim/v2/Groups 相同：displayName sw \"eng\"、members.value eq \"<用户 id>\"。留空：全部用户组。",
	"search.total":             "共 %d 条。",
	"pager":                    "分页",
	"pager.first":              "第一页",
	"pager.next":               "下一页",
	"user.userName":            "用户名",
	"user.displayName":         "显示名",
	"user.email":               "邮箱",
	"user.state":               "状态",
	"user.active":              "已启用",
	"user.inactive":            "已停用",
	"user.groups":              "所属用户组",
	"group.displayName":        "名称",
	"group.members":            "成员（%d）",
	"org":                      "组织",
	"org.name":                 "名称",
	"org.externalId":           "外部 id",
	"org.people":               "人员",
	"id":                       "Id",
	"created":                  "创建时间",
	"modified":                 "修改时间",
	"journey.title":            "生命周期",
	"journey.origin":           "创建者",
	"journey.pruned":           "最早的保留记录，更早的已清理",
	"journey.externalId":       "外部系统",
	"journey.truncated":        "该账号的历史多于可显示的范围，以下为最近的步骤。",
	"journey.delivery":         "投递到",
	"journey.attempts":         "次尝试",
	"journey.earlier":          "写入时以下规则尚未生效：",
	"nav.audit":                "审计日志",
	"audit.title":              "审计日志",
	"audit.actor":              "操作者（应用 id）",
	"audit.resource":           "资源 id",
	"audit.action":             "操作",
	"audit.since":              "起始",
	"audit.until":              "截止",
	"audit.time":               "时间",
	"audit.hint":               "与 gatehouse audit list 相同：操作或其前缀（user.create、login.），时间为 RFC 3339 或日期（UTC）。最新的在前。",
	"audit.records":            "记录",
	"audit.verify":             "校验哈希链",
	"audit.verify.title":       "校验结果",
	"audit.verify.ok":          "共 %d 条记录，哈希链完整。",
	"audit.verify.bad":         "哈希链有 %d 个问题，见下文。",
	"audit.verify.result":      "结果",
	"audit.verify.intact":      "完整",
	"audit.verify.broken":      "已损坏",
	"audit.verify.records":     "记录数",
	"audit.verify.head":        "链头哈希",
	"audit.verify.checkpoints": "检查点",
	"audit.verify.cp":          "读取 %d 个，匹配 %d 个，%d 个所指记录已清理",
	"audit.verify.unsealed":    "尚未封存",
	"pager.older":              "更早的记录",
}
