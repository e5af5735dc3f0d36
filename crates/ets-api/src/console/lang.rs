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
            Text::NoneFound => ("没有符合条件的记录。", "Nothing matches."),
        };
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
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
    fn figures_are_grouped_never_rounded() {
        assert_eq!(grouped("1754.75"), "1,754.75");
        assert_eq!(grouped("0.0001"), "0.0001");
        assert_eq!(grouped("123"), "123");
        assert_eq!(grouped("1234567.123456"), "1,234,567.123456");
        assert_eq!(grouped("-1000.10"), "-1,000.10");
        assert_eq!(grouped("100000"), "100,000");
    }
}
