package web

import (
	"fmt"
	"net/http"
	"strings"

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

// Notice says a search notice in the page's language: the search
// service's notices are English sentences; the keyword-only ones are
// translated, with their reason kept in English.
func (l *Lang) Notice(n string) string {
	if l.Tag == "en" {
		// A sentence: "Keyword search only: … configured."
		if n != "" {
			n = strings.ToUpper(n[:1]) + n[1:]
			if !strings.HasSuffix(n, ".") {
				n += "."
			}
		}
		return n
	}
	if n == "no answer: the chat endpoint failed" {
		return l.T("notice.no-answer")
	}
	rest, ok := strings.CutPrefix(n, "keyword search only: ")
	if !ok {
		return n
	}
	for key, reason := range map[string]string{
		"notice.no-embedder":  "no embedding endpoint is configured",
		"notice.no-vectors":   "the index has no vectors of the configured embedding model (rebuild it)",
		"notice.embed-failed": "the embedding endpoint failed",
		"notice.no-answer":    "No answer: the chat endpoint failed.",
	} {
		if rest == reason {
			return l.T("notice.keyword") + "：" + l.T(key) + "。"
		}
	}
	return l.T("notice.keyword") + "：" + rest
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
	"step.totp":            "Enter the 6-digit code your authenticator app shows.",
	"step.recovery":        "Enter one of your recovery codes. Each works once.",
	"step.recovery.code":   "Recovery code",
	"step.code":            "Code",
	"step.submit":          "Continue",
	"method.totp":          "Use your authenticator app",
	"method.webauthn":      "Use your security key or passkey",
	"method.recovery":      "Use a recovery code",
	"enrol.title":          "Set up a second factor",
	"enrol.intro":          "Your account needs a second factor, which you have not set up yet. Set one up now: it is also this sign-in's second factor.",
	"enrol.totp":           "Set up an authenticator app instead",
	"enrol.webauthn":       "Set up a security key or passkey instead",
	"totp.title":           "Add an authenticator app",
	"totp.intro":           "Scan this QR code with your authenticator app (Google or Microsoft Authenticator, FreeOTP, 1Password…).",
	"totp.qr":              "QR code of the key for your authenticator app",
	"totp.manual":          "Or type in this key (time-based, 6 digits, 30 seconds):",
	"totp.code":            "The 6-digit code your app now shows",
	"totp.name.hint":       "e.g. my phone",
	"totp.submit":          "Confirm",
	"factor.name":          "Name (optional)",
	"key.title":            "Add a security key or passkey",
	"key.intro":            "Press the button, then follow your browser: touch your security key, or unlock your device to make a passkey.",
	"key.create":           "Register a security key",
	"key.name.hint":        "e.g. YubiKey",
	"key.get.intro":        "Press the button, then touch your security key or unlock your device.",
	"key.get":              "Use my security key",
	"key.unsupported":      "This browser cannot use security keys. Choose another way below.",
	"key.waiting":          "Waiting for your security key…",
	"key.failed":           "The security key did not answer, or you cancelled. Try again.",
	"key.noscript":         "Security keys need JavaScript, which is off in this browser. Choose another way below.",
	"codes.title":          "Save your recovery codes",
	"codes.intro":          "If you lose your authenticator, each of these codes lets you sign in once in its place. Keep them somewhere safe: a password manager, or on paper.",
	"codes.once":           "They are shown this once: Gatehouse keeps only their fingerprints. New codes, from your second-factor page, replace them.",
	"codes.continue":       "I have saved them — continue",
	"continue.title":       "Signed in",
	"continue.intro":       "You are signed in. If the application does not open by itself, continue with the button below.",
	"continue.link":        "Continue",
	"factors.title":        "Second factors",
	"factors.intro":        "A second factor protects your account if your password is stolen. Once you have one, every sign-in asks for it.",
	"factors.none":         "You have no second factor yet.",
	"factors.remove":       "Remove",
	"factors.add.totp":     "Add an authenticator app",
	"factors.add.key":      "Add a security key or passkey",
	"factors.codes":        "Recovery codes",
	"factors.codes.left":   "You have %d unused recovery codes.",
	"factors.codes.new":    "Make new recovery codes",
	"factors.back":         "Back to your second factors",
	"factors.added":        "The second factor has been added.",
	"factors.removed":      "The second factor has been removed.",
	"factor.kind.totp":     "authenticator app",
	"factor.kind.webauthn": "security key",
	"factor.used":          "added %s, last used %s",
	"factor.unused":        "added %s",
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
	"home.factors":         "Second factors",
	"logout.submit":        "Sign out",
	"logout.title":         "Sign out",
	"logout.confirm":       "Sign out of Gatehouse?",
	"logout.done":          "You are signed out.",
	"logout.again":         "Sign in again",
	"logout.everywhere":    "Sign out everywhere (every browser, and your applications' saved sign-ins)",
	"error.title":          "Something went wrong",
	"error.back":           "Back to your applications",
	"err.invalid":          "The user name or password is wrong.",
	"err.invalid.code":     "The code is wrong.",
	"err.invalid.key":      "The security key was not accepted. Try again.",
	"err.code-used":        "This code has been used already. Wait for your app to show the next one.",
	"err.factor-locked":    "Too many wrong codes for this account from browsers it has not signed in with before. Sign in from one you have used, or ask an administrator to unlock your account.",
	"err.factor-name":      "The name must be at most 64 characters, on one line, without control characters or invisible direction marks.",
	"err.last-factor":      "Your account must keep a second factor: add another before you remove this one.",
	"err.needs-factor":     "Set up a second factor first.",
	"err.setup-expired":    "This set-up has expired or was replaced by a newer one. Scan the new QR code.",
	"err.no-webauthn":      "Security keys cannot be used on this server (base_url is not set). Choose another way.",
	"err.no-totp":          "Authenticator apps cannot be used on this server. Choose another way.",
	"err.throttled":        "Too many failed attempts from your network. Try again in %s.",
	"err.locked":           "Too many failed attempts for this account from your network. Try again in %s, or ask an administrator to unlock it.",
	"err.slowed":           "Too many failed attempts for this account. Try again in %s.",
	"err.temp-expired":     "Your temporary password has expired. Ask an administrator for a new one.",
	"err.directory":        "Your directory refused the sign-in: %s.",
	"err.unavailable":      "Your password cannot be checked right now. Try again in a moment.",
	"err.busy":             "Gatehouse is busy. Try again in a moment.",
	"err.no-factor":        "Your account needs a second factor (an authenticator app or a security key) that cannot be used or set up on this server. Ask an administrator.",
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
	"home.apps":            "Applications",
	"nav.label":            "Your account",
	"profile.title":        "Your profile",
	"profile.intro":        "What Gatehouse holds about you and gives your applications. It comes from your company's directory: to correct it, ask your administrator.",
	"profile.userName":     "User name",
	"profile.displayName":  "Display name",
	"profile.name":         "Name",
	"profile.title.attr":   "Job title",
	"profile.emails":       "Email",
	"profile.phoneNumbers": "Phone",
	"profile.employee":     "Employee number",
	"profile.organization": "Organization",
	"profile.department":   "Department",
	"profile.manager":      "Manager",
	"profile.language":     "Preferred language",
	"profile.locale":       "Locale",
	"profile.timezone":     "Time zone",
	"profile.groups":       "Groups",
	"search.title":         "Search the documentation",
	"search.title.q":       "Search: %s",
	"search.label":         "Search the documentation you may read",
	"search.placeholder":   "e.g. How do I connect to the VPN?",
	"search.submit":        "Search",
	"search.count":         "%d results.",
	"search.count.one":     "1 result.",
	"search.none":          "Nothing found in the documentation you may read.",
	"search.breadcrumb":    "Where in the document",
	"search.source":        "Source: ",
	"search.limited":       "You have searched too often. Try again in %s.",
	"search.invalid":       "This cannot be searched: %s.",
	"search.unavailable":   "Search is unavailable just now. Try again in a moment.",
	"search.answer.ask":    "Also answer my question from these documents",
	"search.answer":        "Answer",
	"search.answer.cite":   "source %d",
	"search.answer.hint":   "Written by a language model from the results below, which you may read: check the sources it cites.",
	"notice.keyword":       "Keyword search only.",
	"notice.no-embedder":   "no embedding endpoint is configured",
	"notice.no-vectors":    "the index has no vectors of the configured embedding model (rebuild it)",
	"notice.embed-failed":  "the embedding endpoint failed",
	"notice.no-answer":     "No answer: the chat endpoint failed.",
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
	"step.totp":            "请输入身份验证器应用显示的 6 位验证码。",
	"step.recovery":        "请输入一个恢复码。每个恢复码只能使用一次。",
	"step.recovery.code":   "恢复码",
	"step.code":            "验证码",
	"step.submit":          "继续",
	"method.totp":          "使用身份验证器应用",
	"method.webauthn":      "使用安全密钥或通行密钥",
	"method.recovery":      "使用恢复码",
	"enrol.title":          "设置第二因素",
	"enrol.intro":          "您的账号需要第二因素，但尚未设置。请现在设置：它也将作为本次登录的第二因素。",
	"enrol.totp":           "改为设置身份验证器应用",
	"enrol.webauthn":       "改为设置安全密钥或通行密钥",
	"totp.title":           "添加身份验证器应用",
	"totp.intro":           "请用身份验证器应用（Google 或 Microsoft Authenticator、FreeOTP、1Password 等）扫描此二维码。",
	"totp.qr":              "身份验证器应用密钥的二维码",
	"totp.manual":          "或手动输入此密钥（基于时间，6 位，30 秒）：",
	"totp.code":            "应用当前显示的 6 位验证码",
	"totp.name.hint":       "例如：我的手机",
	"totp.submit":          "确认",
	"factor.name":          "名称（可选）",
	"key.title":            "添加安全密钥或通行密钥",
	"key.intro":            "点击按钮后按浏览器提示操作：触摸安全密钥，或解锁设备以创建通行密钥。",
	"key.create":           "注册安全密钥",
	"key.name.hint":        "例如：YubiKey",
	"key.get.intro":        "点击按钮，然后触摸安全密钥或解锁设备。",
	"key.get":              "使用我的安全密钥",
	"key.unsupported":      "此浏览器无法使用安全密钥，请在下方选择其他方式。",
	"key.waiting":          "正在等待安全密钥……",
	"key.failed":           "安全密钥没有响应，或您已取消。请重试。",
	"key.noscript":         "安全密钥需要 JavaScript，但此浏览器已将其关闭。请在下方选择其他方式。",
	"codes.title":          "保存您的恢复码",
	"codes.intro":          "如果丢失了身份验证器，每个恢复码可代替它登录一次。请妥善保存：放在密码管理器中，或打印在纸上。",
	"codes.once":           "恢复码只显示这一次：Gatehouse 只保存其指纹。在第二因素页面生成新的恢复码会替换它们。",
	"codes.continue":       "我已保存，继续",
	"continue.title":       "已登录",
	"continue.intro":       "您已登录。如果应用没有自动打开，请点击下方按钮继续。",
	"continue.link":        "继续",
	"factors.title":        "第二因素",
	"factors.intro":        "第二因素可在密码被盗时保护您的账号。设置后，每次登录都会要求它。",
	"factors.none":         "您尚未设置第二因素。",
	"factors.remove":       "删除",
	"factors.add.totp":     "添加身份验证器应用",
	"factors.add.key":      "添加安全密钥或通行密钥",
	"factors.codes":        "恢复码",
	"factors.codes.left":   "您还有 %d 个未使用的恢复码。",
	"factors.codes.new":    "生成新的恢复码",
	"factors.back":         "返回第二因素",
	"factors.added":        "已添加第二因素。",
	"factors.removed":      "已删除第二因素。",
	"factor.kind.totp":     "身份验证器应用",
	"factor.kind.webauthn": "安全密钥",
	"factor.used":          "添加于 %s，最近使用 %s",
	"factor.unused":        "添加于 %s",
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
	"home.factors":         "第二因素",
	"logout.submit":        "退出登录",
	"logout.title":         "退出登录",
	"logout.confirm":       "确定退出 Gatehouse？",
	"logout.done":          "您已退出登录。",
	"logout.again":         "重新登录",
	"logout.everywhere":    "在所有地方退出（所有浏览器，以及各应用保存的登录）",
	"error.title":          "出错了",
	"error.back":           "返回我的应用",
	"err.invalid":          "用户名或密码错误。",
	"err.invalid.code":     "验证码错误。",
	"err.invalid.key":      "安全密钥未被接受，请重试。",
	"err.code-used":        "此验证码已使用过，请等待应用显示下一个验证码。",
	"err.factor-locked":    "该账号在未登录过的浏览器上输错验证码的次数过多。请使用登录过的浏览器，或请管理员解锁账号。",
	"err.factor-name":      "名称最多 64 个字符，不能换行，也不能含控制字符或不可见的方向标记。",
	"err.last-factor":      "您的账号必须保留第二因素：请先添加另一个，再删除此项。",
	"err.needs-factor":     "请先设置第二因素。",
	"err.setup-expired":    "此设置已过期或已被更新的设置替代。请扫描新的二维码。",
	"err.no-webauthn":      "此服务器无法使用安全密钥（未设置 base_url）。请选择其他方式。",
	"err.no-totp":          "此服务器无法使用身份验证器应用。请选择其他方式。",
	"err.throttled":        "您所在网络的失败尝试过多，请在 %s 后重试。",
	"err.locked":           "该账号在您所在网络的失败尝试过多，请在 %s 后重试，或请管理员解锁。",
	"err.slowed":           "该账号的失败尝试过多，请在 %s 后重试。",
	"err.temp-expired":     "临时密码已过期，请向管理员申请新的临时密码。",
	"err.directory":        "目录拒绝了登录：%s。",
	"err.unavailable":      "暂时无法验证您的密码，请稍后重试。",
	"err.busy":             "Gatehouse 繁忙，请稍后重试。",
	"err.no-factor":        "您的账号需要第二因素（身份验证器应用或安全密钥），但无法在此服务器上使用或设置。请联系管理员。",
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
	"home.apps":            "应用",
	"nav.label":            "我的账号",
	"profile.title":        "个人资料",
	"profile.intro":        "Gatehouse 保存并提供给您的应用的个人信息。信息来自公司目录，如需更正，请联系管理员。",
	"profile.userName":     "用户名",
	"profile.displayName":  "显示名称",
	"profile.name":         "姓名",
	"profile.title.attr":   "职位",
	"profile.emails":       "邮箱",
	"profile.phoneNumbers": "电话",
	"profile.employee":     "工号",
	"profile.organization": "组织",
	"profile.department":   "部门",
	"profile.manager":      "上级",
	"profile.language":     "首选语言",
	"profile.locale":       "区域设置",
	"profile.timezone":     "时区",
	"profile.groups":       "所在组",
	"search.title":         "搜索文档",
	"search.title.q":       "搜索：%s",
	"search.label":         "搜索您有权阅读的文档",
	"search.placeholder":   "例如：怎么连接 VPN？",
	"search.submit":        "搜索",
	"search.count":         "共 %d 条结果。",
	"search.count.one":     "共 1 条结果。",
	"search.none":          "在您有权阅读的文档中没有找到结果。",
	"search.breadcrumb":    "在文档中的位置",
	"search.source":        "来源：",
	"search.limited":       "搜索过于频繁，请在 %s 后重试。",
	"search.invalid":       "无法搜索：%s。",
	"search.unavailable":   "搜索暂时不可用，请稍后重试。",
	"search.answer.ask":    "同时根据这些文档回答我的问题",
	"search.answer":        "回答",
	"search.answer.cite":   "来源 %d",
	"search.answer.hint":   "由语言模型根据下方您有权阅读的结果生成，请核对其引用的来源。",
	"notice.keyword":       "仅关键词搜索",
	"notice.no-embedder":   "未配置向量嵌入服务",
	"notice.no-vectors":    "索引中没有当前嵌入模型的向量（需重建索引）",
	"notice.embed-failed":  "向量嵌入服务调用失败",
	"notice.no-answer":     "未能生成回答：对话服务调用失败。",
	"skip":                 "跳到表单",
}
