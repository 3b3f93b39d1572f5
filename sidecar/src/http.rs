//! What every HTTP client of the product (ARI probe, berofos relay, alert webhooks) shares: how a reqwest error reads in a log line.

/// The error and its causes on one line (reqwest's own text is only the outermost layer,
/// "error sending request"), without the URL: a webhook's URL may carry its token.
pub fn error_text(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
