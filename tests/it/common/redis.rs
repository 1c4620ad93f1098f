//! A real `redis-server` on a free loopback port, without persistence,
//! answering before `start` returns (polled, not slept on), killed on drop.
//!
//! ```ignore
//! let mut redis = RedisServer::start();
//! let env = [("VOIDX_CACHE__URL", redis.url.as_str())];
//! let mut con = redis.connection();
//! redis.stop(); // the cache goes away mid-test
//! ```

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require_tool};

pub struct RedisServer {
    child: Option<Child>,
    pub url: String,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let child = Command::new(require_tool("redis-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer {
            child: Some(child),
            url: format!("redis://127.0.0.1:{port}"),
        };
        // Wait until it answers a PING, up to 10 s.
        for _ in 0..200 {
            if let Ok(mut con) = server.try_connection()
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not answer on {} within 10 s", server.url);
    }

    fn try_connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url.as_str())?.get_connection()
    }

    /// A synchronous connection, for INFO, DBSIZE and CONFIG in assertions.
    pub fn connection(&self) -> redis::Connection {
        self.try_connection().expect("connect to redis-server")
    }

    /// Kills the server now (a cache outage); dropping does the same.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
