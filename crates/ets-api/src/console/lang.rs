//! The console's two languages: Simplified Chinese by default, English on
//! request (`?lang=en`, remembered in a cookie). Every word a page shows
//! comes from [`Lang::text`], so a page never mixes the two.

use ets_core::Role;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

/// A phrase of the console, in either language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Title,
    LoginHeading,
    Login,
    Password,
    Totp,
    SignIn,
    SignOut,
    WrongCredentials,
    Locked,
    Overview,
    Instrument,
    LastPrice,
    TodayVwap,
    TodayQuantity,
    NoTrades,
    VwapChart,
    QuantityChart,
    Journal,
    Entries,
    HeadHash,
    Forbidden,
    FormExpired,
    Language,
    Trades,
    Participant,
    Method,
    From,
    To,
    Filter,
    DownloadCsv,
    NextPage,
    ExecutedAt,
    TradeId,
    Buyer,
    Seller,
    Quantity,
    Price,
    Value,
    AnyMethod,
    NoneFound,
}

impl Lang {
    /// `zh` or `en` from a query or cookie value; anything else is none.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// As in `?lang=` and the `lang` attribute of a page.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// The value of `?lang=` that chooses it.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The other language, for the switch on every page.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// `zh` or `en`, whichever this language is: for a page's own phrases.
    pub(crate) fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// A phrase in this language.
    pub(crate) fn text(self, text: Text) -> &'static str {
        let (zh, en) = match text {
            Text::Title => ("排污权与碳排放权交易台账", "Emissions trading ledger"),
            Text::LoginHeading => ("登录", "Sign in"),
            Text::Login => ("账号", "Login"),
            Text::Password => ("密码", "Password"),
            Text::Totp => ("动态验证码", "Authenticator code"),
            Text::SignIn => ("登录", "Sign in"),
            Text::SignOut => ("退出", "Sign out"),
            Text::WrongCredentials => (
                "账号、密码或动态验证码不正确。",
                "The login, password or authenticator code is not right.",
            ),
            Text::Locked => (
                "失败次数过多，该账号在此地址已锁定 15 分钟。",
                "Too many failures: this login is locked from this address for 15 minutes.",
            ),
            Text::Overview => ("市场概览", "Market overview"),
            Text::Instrument => ("品种", "Instrument"),
            Text::LastPrice => ("最新价", "Last price"),
            Text::TodayVwap => ("今日成交均价", "Today's VWAP"),
            Text::TodayQuantity => ("今日成交量", "Traded today"),
            Text::NoTrades => ("—", "—"),
            Text::VwapChart => ("近 90 日成交均价", "VWAP, last 90 days"),
            Text::QuantityChart => ("近 90 日成交量", "Quantity traded, last 90 days"),
            Text::Journal => ("审计日志", "Journal"),
            Text::Entries => ("条目数", "Entries"),
            Text::HeadHash => ("最新哈希", "Head hash"),
            Text::FormExpired => (
                "此表单已失效，请刷新页面后重试。",
                "This form has expired; reload the page and try again.",
            ),
            Text::Forbidden => (
                "您的角色无权使用此页面。",
                "Your role may not use this page.",
            ),
            Text::Language => ("English", "中文"),
            Text::Trades => ("成交记录", "Trades"),
            Text::Participant => ("参与方编号", "Participant id"),
            Text::Method => ("交易方式", "Method"),
            Text::From => ("起始日", "From"),
            Text::To => ("截止日", "To"),
            Text::Filter => ("筛选", "Filter"),
            Text::DownloadCsv => ("下载 CSV", "Download CSV"),
            Text::NextPage => ("下一页", "Next page"),
            Text::ExecutedAt => ("成交时间", "Executed at"),
            Text::TradeId => ("成交编号", "Trade id"),
            Text::Buyer => ("买方", "Buyer"),
            Text::Seller => ("卖方", "Seller"),
            Text::Quantity => ("数量", "Quantity"),
            Text::Price => ("价格", "Price"),
            Text::Value => ("金额", "Value"),
            Text::AnyMethod => ("全部", "Any"),
            Text::NoneFound => (
                "没有符合条件的记录，请放宽或清除筛选条件。",
                "Nothing matches: widen or clear the filters.",
            ),
        };
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// A refusal of the API in this language: Chinese from its stable
    /// `code` where the console knows the code (the API's own words
    /// follow, for the record), the API's words as they are otherwise.
    pub(crate) fn problem(self, problem: &crate::problem::Problem) -> String {
        let zh = match problem.code() {
            "invalid_decimal" => "请输入数字，如 1250.00（不带千分位和货币符号）。",
            "scale_exceeded" => "小数位数超过该字段允许的位数（金额最多两位小数）。",
            "amount_must_be_positive" => "金额须大于零。",
            "overpayment" => "缴款金额超过尚欠金额。",
            "invoice_paid" => "该缴费通知已缴清。",
            "invalid_reference" => "请填写凭证号（不超过 100 个字符）。",
            "invalid_text" => "文字中含有控制字符或双向覆盖字符。",
            "invalid_source" => "请选择缴款来源。",
            "insufficient_funds" => "参与方账户余额不足。",
            "invalid_query" | "invalid_cursor" => "筛选条件有误。",
            "idempotency_key_reused" => "此表单已用其他内容提交过，请刷新页面后重试。",
            _ => return problem.detail().to_owned(),
        };
        match self {
            Self::Zh => format!("{zh}（{}）", problem.detail()),
            Self::En => problem.detail().to_owned(),
        }
    }

    /// An instant as the API writes it (RFC 3339), shown in the ledger's
    /// business zone the way this language writes times, inside a
    /// `<time>` that keeps the API's text; text that is not a time stays
    /// as it is.
    pub(crate) fn when(self, text: &str, zone: ets_core::BusinessZone) -> maud::Markup {
        let shown = chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|at| {
                let offset = chrono::FixedOffset::east_opt(zone.offset_minutes() * 60)?;
                let local = at.with_timezone(&offset);
                Some(match self {
                    Self::Zh => local.format("%Y年%-m月%-d日 %H:%M:%S").to_string(),
                    Self::En => local.format("%-d %b %Y, %H:%M:%S").to_string(),
                })
            });
        maud::html! { time datetime=(text) { (shown.as_deref().unwrap_or(text)) } }
    }

    /// A day as the API writes it (`YYYY-MM-DD`), the way this language
    /// writes days, inside a `<time>` that keeps the API's text.
    pub(crate) fn day(self, text: &str) -> maud::Markup {
        let shown = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|day| match self {
                Self::Zh => day.format("%Y年%-m月%-d日").to_string(),
                Self::En => day.format("%-d %b %Y").to_string(),
            });
        maud::html! { time datetime=(text) { (shown.as_deref().unwrap_or(text)) } }
    }

    /// A trade method's name.
    pub(crate) fn method(self, method: &str) -> &'static str {
        match (self, method) {
            (Self::Zh, "order_book") => "集中竞价",
            (Self::Zh, "negotiated") => "协议转让",
            (Self::Zh, "auction") => "拍卖",
            (Self::En, "order_book") => "order book",
            (Self::En, "negotiated") => "negotiated",
            (Self::En, "auction") => "auction",
            _ => "—",
        }
    }

    /// A role's name.
    pub(crate) fn role(self, role: Role) -> &'static str {
        match (self, role) {
            (Self::Zh, Role::Admin) => "管理员",
            (Self::Zh, Role::Regulator) => "监管人员",
            (Self::Zh, Role::Finance) => "财务人员",
            (Self::Zh, Role::Enterprise) => "企业",
            (Self::En, role) => role.as_str(),
        }
    }
}

/// A figure as the API answers it, its whole part grouped by thousands for
/// reading: `1754.75` is `1,754.75`. No digit is added, dropped or rounded.
pub(crate) fn grouped(figure: &str) -> String {
    let (sign, unsigned) = figure
        .strip_prefix('-')
        .map_or(("", figure), |rest| ("-", rest));
    let (whole, fraction) = unsigned
        .split_once('.')
        .map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let mut out = String::with_capacity(figure.len() + whole.len() / 3);
    out.push_str(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_days_are_written_as_each_language_writes_them() {
        let zone = ets_core::BusinessZone::from_offset_minutes(480).expect("UTC+8");
        let at = "2026-11-30T23:22:16.063933Z";
        let zh = Lang::Zh.when(at, zone).into_string();
        assert!(zh.contains("2026年12月1日 07:22:16"), "{zh}");
        assert!(zh.contains(&format!("datetime=\"{at}\"")), "{zh}");
        let en = Lang::En.when(at, zone).into_string();
        assert!(en.contains("1 Dec 2026, 07:22:16"), "{en}");
        assert!(
            Lang::Zh
                .day("2026-11-15")
                .into_string()
                .contains("2026年11月15日")
        );
        assert!(
            Lang::En
                .day("2026-11-15")
                .into_string()
                .contains("15 Nov 2026")
        );
        assert!(
            Lang::Zh
                .when("not a time", zone)
                .into_string()
                .contains("not a time")
        );
    }

    #[test]
    fn figures_are_grouped_never_rounded() {
        assert_eq!(grouped("1754.75"), "1,754.75");
        assert_eq!(grouped("0.0001"), "0.0001");
        assert_eq!(grouped("123"), "123");
        assert_eq!(grouped("1234567.123456"), "1,234,567.123456");
        assert_eq!(grouped("-1000.10"), "-1,000.10");
        assert_eq!(grouped("100000"), "100,000");
    }
}
