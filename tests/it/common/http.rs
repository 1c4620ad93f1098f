//! A REST client for the shim of one test server: status and JSON body of
//! each call (a non-JSON body comes back as a JSON string).
//!
//! ```ignore
//! let http = Http::new(&server);
//! let (status, body) = http.post("/predict", r#"{"customer_id": "c", "features": {}}"#).await;
//! ```

use serde_json::Value;

use super::Server;

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub fn new(server: &Server) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{}", server.http_port),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("HTTP body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POST a JSON `body`, with `Authorization: Bearer <key>` when given.
    pub async fn post_with_key(&self, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.post_with_key(path, body, None).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }
}
