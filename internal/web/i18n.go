package web

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"
)

// Pages speak English and Chinese (Simplified), chosen by the browser's
// Accept-Language.

// Lang is a page's language.
type Lang struct {
	Tag  string // the html lang attribute
	msgs map[string]string
}

var langTags = []language.Tag{language.English, language.SimplifiedChinese}

// matcher is immutable once built; it holds no state between requests.
func newMatcher() language.Matcher { return language.NewMatcher(langTags) }

// lang picks the page language for r.
func (s *Site) lang(r *http.Request) *Lang {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return s.langs[0]
	}
	_, i, conf := s.matcher.Match(tags...)
	if conf == language.No {
		return s.langs[0]
	}
	return s.langs[i]
}

// T returns the message key in the page's language (the English one when
// it has none; the key itself when there is none at all).
func (l *Lang) T(key string) string {
	if m, ok := l.msgs[key]; ok {
		return m
	}
	if m, ok := english[key]; ok {
		return m
	}
	return key
}

// F formats message key with args.
func (l *Lang) F(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

func newLangs() []*Lang {
	return []*Lang{{Tag: "en", msgs: english}, {Tag: "zh-Hans", msgs: chinese}}
}

var english = map[string]string{
	"brand":                "Gatehouse",
	"login.title":          "Sign in",
	"login.intro":          "Sign in with your work account.",
	"login.intro.app":      "Sign in to continue to %s.",
	"login.username":       "User name",
	"login.password":       "Password",
	"login.submit":         "Sign in",
	"change.title":         "Choose a new password",
	"change.intro":         "Your password was reset by an administrator. Choose a new one to continue.",
	"change.new":           "New password",
	"change.confirm":       "New password, again",
	"change.submit":        "Set the password and continue",
	"step.title":           "Confirm it is you",
	"step.intro":           "Enter the code from your %s.",
	"step.code":            "Code",
	"step.submit":          "Continue",
	"password.title":       "Change your password",
	"password.current":     "Current password",
	"password.submit":      "Change the password",
	"password.done":        "Your password has been changed. Your other sessions have ended.",
	"password.delegated":   "Your password is your directory's (%s): change it there.",
	"policy":               "The password must have %s.",
	"home.title":           "Your applications",
	"home.hello":           "Signed in as %s.",
	"home.none":            "No applications have been opened to you yet.",
	"home.open":            "Open",
	"home.nolink":          "Open it from its own sign-in page.",
	"home.sso":             "Sign-in through Gatehouse only",
	"home.password":        "Change password",
	"logout.submit":        "Sign out",
	"logout.title":         "Sign out",
	"logout.confirm":       "Sign out of Gatehouse?",
	"logout.done":          "You are signed out.",
	"logout.again":         "Sign in again",
	"error.title":          "Something went wrong",
	"error.back":           "Back to your applications",
	"err.invalid":          "The user name or password is wrong.",
	"err.invalid.code":     "The code is wrong.",
	"err.throttled":        "Too many failed attempts from your network. Try again in %s.",
	"err.locked":           "Too many failed attempts for this account from your network. Try again in %s, or ask an administrator to unlock it.",
	"err.slowed":           "Too many failed attempts for this account. Try again in %s.",
	"err.temp-expired":     "Your temporary password has expired. Ask an administrator for a new one.",
	"err.directory":        "Your directory refused the sign-in: %s.",
	"err.unavailable":      "Your password cannot be checked right now. Try again in a moment.",
	"err.busy":             "Gatehouse is busy. Try again in a moment.",
	"err.no-factor":        "Your account needs a second factor (an authenticator app or a security key), which is not set up yet. Ask an administrator.",
	"err.expired":          "This sign-in has expired. Start again.",
	"err.mismatch":         "The two new passwords differ.",
	"err.same-password":    "Choose a password different from the current one.",
	"err.not-here":         "Your password is your directory's (%s): change it there.",
	"err.csrf":             "The form could not be accepted (it came from another site, or it is too old). Reload the page and try again.",
	"err.policy":           "The new password does not follow the rules: %s.",
	"err.https":            "Sign-in needs HTTPS. Set base_url to the https URL people use (TLS at a proxy), or tls.cert_file; for development on this machine, login.insecure_dev_cookies.",
	"err.notfound":         "There is no such page.",
	"err.internal":         "Gatehouse could not do this. Try again later.",
	"dir.password-expired": "your password has expired; change it in your directory",
	"dir.must-change":      "you must change your password in your directory first",
	"skip":                 "Skip to the form",
}

var chinese = map[string]string{
	"brand":                "Gatehouse",
	"login.title":          "登录",
	"login.intro":          "请使用工作账号登录。",
	"login.intro.app":      "登录以继续访问 %s。",
	"login.username":       "用户名",
	"login.password":       "密码",
	"login.submit":         "登录",
	"change.title":         "设置新密码",
	"change.intro":         "管理员已重置您的密码。请设置新密码后继续。",
	"change.new":           "新密码",
	"change.confirm":       "再次输入新密码",
	"change.submit":        "设置密码并继续",
	"step.title":           "验证您的身份",
	"step.intro":           "请输入%s中的验证码。",
	"step.code":            "验证码",
	"step.submit":          "继续",
	"password.title":       "修改密码",
	"password.current":     "当前密码",
	"password.submit":      "修改密码",
	"password.done":        "密码已修改，您的其他会话已结束。",
	"password.delegated":   "您的密码由目录（%s）管理，请在目录中修改。",
	"policy":               "密码要求：%s。",
	"home.title":           "我的应用",
	"home.hello":           "当前登录：%s。",
	"home.none":            "暂无可用的应用。",
	"home.open":            "打开",
	"home.nolink":          "请从该应用自己的登录页面进入。",
	"home.sso":             "仅允许通过 Gatehouse 登录",
	"home.password":        "修改密码",
	"logout.submit":        "退出登录",
	"logout.title":         "退出登录",
	"logout.confirm":       "确定退出 Gatehouse？",
	"logout.done":          "您已退出登录。",
	"logout.again":         "重新登录",
	"error.title":          "出错了",
	"error.back":           "返回我的应用",
	"err.invalid":          "用户名或密码错误。",
	"err.invalid.code":     "验证码错误。",
	"err.throttled":        "您所在网络的失败尝试过多，请在 %s 后重试。",
	"err.locked":           "该账号在您所在网络的失败尝试过多，请在 %s 后重试，或请管理员解锁。",
	"err.slowed":           "该账号的失败尝试过多，请在 %s 后重试。",
	"err.temp-expired":     "临时密码已过期，请向管理员申请新的临时密码。",
	"err.directory":        "目录拒绝了登录：%s。",
	"err.unavailable":      "暂时无法验证您的密码，请稍后重试。",
	"err.busy":             "Gatehouse 繁忙，请稍后重试。",
	"err.no-factor":        "您的账号需要第二因素（身份验证器应用或安全密钥），但尚未设置。请联系管理员。",
	"err.expired":          "本次登录已过期，请重新开始。",
	"err.mismatch":         "两次输入的新密码不一致。",
	"err.same-password":    "新密码不能与当前密码相同。",
	"err.not-here":         "您的密码由目录（%s）管理，请在目录中修改。",
	"err.csrf":             "无法接受该表单（来自其他网站或已过期）。请刷新页面后重试。",
	"err.policy":           "新密码不符合要求：%s。",
	"err.https":            "登录需要 HTTPS。请将 base_url 设置为用户访问的 https 地址（由代理提供 TLS），或配置 tls.cert_file；本机开发可使用 login.insecure_dev_cookies。",
	"err.notfound":         "页面不存在。",
	"err.internal":         "Gatehouse 无法完成此操作，请稍后重试。",
	"dir.password-expired": "密码已过期，请在目录中修改",
	"dir.must-change":      "请先在目录中修改密码",
	"skip":                 "跳到表单",
}
