//! CONNECT / STOMP: version and heart-beat negotiation, authentication, CONNECTED.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::engine::session::shared::Connected;
use crate::events::SessionEvent;
use crate::frame::heartbeat::{negotiate_heartbeat, HeartBeat};
use crate::frame::{name, Command, Frame};
use crate::identity::SessionInfo;
use crate::interceptor::ConnectRequest;
use crate::version::{negotiate_version, Version};

use super::error::ProtocolError;
use super::Session;

impl Session {
    /// Accepts a CONNECT: on success CONNECTED is queued, `Connected` published, and the
    /// negotiated version returned.
    pub(super) async fn connect(&mut self, frame: Frame) -> Result<Version, ProtocolError> {
        let engine = self.engine.clone();
        let provisional = self.info();
        let frame = self.intercept(frame, &provisional).await?;
        let headers = &frame.headers;

        // As the specification says: no `accept-version` means a 1.0 client. The WebSocket
        // subprotocol does not change that (nor the choice among the offered versions): a
        // client may offer `v12.stomp` and still speak only 1.0.
        let version = negotiate_version(headers.accept_version(), &engine.config.versions)
            .map_err(|e| ProtocolError::no_common_version(&e))?;

        let client_beat = if version == Version::V1_0 {
            HeartBeat::NONE
        } else {
            headers
                .heart_beat()
                .map_err(|e| ProtocolError::new("invalid heart-beat header", e.to_string()))?
                .unwrap_or(HeartBeat::NONE)
        };
        let heartbeat = negotiate_heartbeat(client_beat, engine.config.heartbeat);

        let principal = engine
            .authenticator
            .authenticate(ConnectRequest {
                session: self.shared.id.clone(),
                headers: headers.clone(),
                transport_principal: self.transport.principal.clone(),
                remote_addr: self.transport.remote_addr,
            })
            .await?;
        let info = SessionInfo {
            id: self.shared.id.clone(),
            principal,
            version,
            attributes: self.attributes.clone(),
        };
        engine.channel.session_opened(&info, headers).await?;

        let mut connected = Frame::new(Command::Connected).header(name::VERSION, version.as_str());
        if version != Version::V1_0 {
            connected = connected.header(name::HEART_BEAT, engine.config.heartbeat.to_string());
        }
        connected = connected
            .header(name::SESSION, self.shared.id.as_str())
            .header(name::SERVER, engine.config.server_name.clone());
        if let Some(principal) = &info.principal {
            connected = connected.header("user-name", principal.name());
        }
        // Set before queueing CONNECTED, so the frame is encoded in the negotiated version.
        self.shared.outbound.connected(&info);
        let _ = self.shared.connected.set(Connected {
            info: info.clone(),
            since: SystemTime::now(),
            heartbeat,
        });
        self.shared
            .last_write_ms
            .store(engine.now_ms(), Ordering::Relaxed);
        engine.send_frame(&self.shared, &connected);
        engine.counters.sessions.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        engine.metrics.connect(true);
        engine
            .counters
            .sessions_total
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(session = %info.id, version = %version, "session connected");
        let _ = engine.events.send(SessionEvent::Connected { info });
        engine.ensure_scheduler();
        Ok(version)
    }
}
