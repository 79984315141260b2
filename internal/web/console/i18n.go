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
	"console":                "Console",
	"skip":                   "Skip to the content",
	"nav.label":              "Console sections",
	"nav.dashboard":          "Dashboard",
	"signed-in-as":           "Signed in as %s",
	"via.sso":                "your account",
	"via.token":              "admin token",
	"logout":                 "Sign out",
	"signin.title":           "Sign in to the console",
	"signin.sso":             "Administrators sign in with their own account (two factors).",
	"signin.sso.link":        "Sign in with your account",
	"signin.token.intro":     "Or type an admin token (an application's bearer token with the admin scope). It is exchanged for a console session; the token is not kept in the browser.",
	"signin.token":           "Admin token",
	"signin.submit":          "Sign in with the token",
	"signin.token.missing":   "Type an admin token.",
	"signin.token.invalid":   "This token is not valid (unknown, disabled or expired).",
	"signin.token.scope":     "This credential cannot administer Gatehouse: the console takes bearer tokens of applications with the admin scope.",
	"signin.token.throttled": "Too many failed attempts from your address. Wait a minute and try again.",
	"dashboard.title":        "Dashboard",
	"err.forbidden":          "Only Gatehouse administrators may open the console: a member of an administrators' group (login.admin_groups) signed in with two factors, or an admin token.",
	"err.csrf":               "The form could not be accepted (it came from another site, or it is too old). Reload the page and try again.",
	"err.form":               "The form could not be read.",
	"err.notfound":           "There is no such page in the console.",
	"err.internal":           "Gatehouse could not do this. Try again later.",
	"err.https":              "The console needs HTTPS (set base_url to an https URL), or login.insecure_dev_cookies for development.",
	"none":                   "None.",
}

var chinese = map[string]string{
	"console":                "控制台",
	"skip":                   "跳到正文",
	"nav.label":              "控制台栏目",
	"nav.dashboard":          "概览",
	"signed-in-as":           "当前登录：%s",
	"via.sso":                "个人账号",
	"via.token":              "管理令牌",
	"logout":                 "退出",
	"signin.title":           "登录控制台",
	"signin.sso":             "管理员使用自己的账号登录（需要两个因素）。",
	"signin.sso.link":        "使用账号登录",
	"signin.token.intro":     "也可以输入管理令牌（具有 admin 权限的应用的 Bearer 令牌）。它将换成控制台会话，浏览器中不保存令牌。",
	"signin.token":           "管理令牌",
	"signin.submit":          "使用令牌登录",
	"signin.token.missing":   "请输入管理令牌。",
	"signin.token.invalid":   "该令牌无效（未知、已停用或已过期）。",
	"signin.token.scope":     "该凭据无权管理 Gatehouse：控制台只接受具有 admin 权限的应用的 Bearer 令牌。",
	"signin.token.throttled": "来自您地址的失败尝试过多，请稍等一分钟后重试。",
	"dashboard.title":        "概览",
	"err.forbidden":          "只有 Gatehouse 管理员可以打开控制台：管理员组（login.admin_groups）的成员以两个因素登录，或使用管理令牌。",
	"err.csrf":               "无法接受该表单（来自其他网站或已过期）。请刷新页面后重试。",
	"err.form":               "无法读取该表单。",
	"err.notfound":           "控制台中没有这个页面。",
	"err.internal":           "Gatehouse 无法完成此操作，请稍后重试。",
	"err.https":              "控制台需要 HTTPS（将 base_url 设为 https 地址），开发时可设置 login.insecure_dev_cookies。",
	"none":                   "无。",
}
