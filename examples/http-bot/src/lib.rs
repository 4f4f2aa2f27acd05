//! Report the BTC price to a Telegram chat: a fat contract that calls two web APIs.
//!
//! - `init`: `{"price_url", "bot_url", "token", "chat_id"}`;
//! - query `report`: GETs `price_url` (which answers like `{"USD": 64123.5}`), POSTs
//!   `{"chat_id", "text": "BTC price: $64123.5"}` to `{bot_url}/bot{token}/sendMessage` and
//!   returns the price.
//!
//! The token is a secret: it leaves the contract only in the bot URL, and the SDK's HTTP
//! errors name the origin only, never the path that carries it.

use fat_sdk::prelude::*;

/// Where the price comes from and where it goes.
#[contract]
#[derive(Serialize, Deserialize, Default)]
pub struct Bot {
    price_url: String,
    bot_url: String,
    token: String,
    /// A number or a `@channel` name, sent back as given.
    chat_id: Value,
}

#[contract]
impl Bot {
    /// Remember the two endpoints and the bot's credentials.
    #[init]
    pub fn new(
        price_url: String,
        bot_url: String,
        token: String,
        chat_id: Value,
    ) -> Result<Self, String> {
        if chat_id.is_null() {
            return Err("missing field `chat_id`".to_owned());
        }
        Ok(Self {
            price_url,
            bot_url: bot_url.trim_end_matches('/').to_owned(),
            token,
            chat_id,
        })
    }

    /// Fetch the price, post it to the chat and return it.
    #[query]
    pub fn report(&self) -> Result<f64, String> {
        let price = self.price().map_err(|e| format!("price API: {e}"))?;
        let text = format!("BTC price: ${price}");
        http::Request::post(format!("{}/bot{}/sendMessage", self.bot_url, self.token))
            .json(&json!({ "chat_id": self.chat_id, "text": text }))
            .and_then(http::Request::send)
            .and_then(http::Response::error_for_status)
            .map_err(|e| format!("bot API: {e}"))?;
        info!("reported {text}");
        Ok(price)
    }
}

impl Bot {
    fn price(&self) -> Result<f64, String> {
        let quote: Value = http::get(&self.price_url)
            .and_then(http::Response::error_for_status)
            .and_then(|response| response.json())
            .map_err(|e| e.to_string())?;
        quote["USD"]
            .as_f64()
            .ok_or_else(|| "the answer has no number at \"USD\"".to_owned())
    }
}
