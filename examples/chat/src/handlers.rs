//! The STOMP handlers: what the page SENDs to and SUBSCRIBEs to under `/app`.

use stomp_axum::prelude::*;

use crate::messages::{
    clean_text, now_millis, ChatInput, ChatMessage, Kind, PrivateInput, PrivateMessage,
};
use crate::{ChatState, INBOX};

/// `SEND /app/chat/{room}` `{text}`: broadcast to the room, signed with the sender's name.
#[message_mapping("/chat/{room}")]
#[send_to("/topic/chat.{room}")]
pub async fn chat(
    DestinationVar(room): DestinationVar<String>,
    principal: Principal,
    Payload(input): Payload<ChatInput>,
) -> Option<ChatMessage> {
    let text = clean_text(&input.text);
    (!text.is_empty()).then(|| ChatMessage {
        room,
        from: principal.name().to_owned(),
        text,
        kind: Kind::Chat,
        at: now_millis(),
    })
}

/// `SEND /app/join/{room}`: tell the room someone joined.
#[message_mapping("/join/{room}")]
#[send_to("/topic/chat.{room}")]
pub async fn join(
    DestinationVar(room): DestinationVar<String>,
    principal: Principal,
) -> ChatMessage {
    ChatMessage {
        room,
        from: principal.name().to_owned(),
        text: String::new(),
        kind: Kind::Join,
        at: now_millis(),
    }
}

/// `SEND /app/private` `{to, text}`: into the recipient's inbox, [`INBOX`]
/// (`/user/queue/inbox`), and a copy to every session of the sender on
/// `/user/queue/private` (the return value, `send_to_user`).
///
/// With the embedded broker the inbox is a user queue: a message to someone offline waits
/// for their next session (on disk with `--data-dir`); with the relay or the backplane it
/// reaches the recipient's sessions that are online (see the README).
/// An invalid payload (no `to`) is reported on the sender's `/user/queue/errors`.
#[message_mapping("/private")]
#[send_to_user("/queue/private")]
pub async fn private(
    principal: Principal,
    template: MessagingTemplate,
    Valid(Payload(input)): Valid<Payload<PrivateInput>>,
) -> Result<Option<PrivateMessage>, TemplateError> {
    let text = clean_text(&input.text);
    if text.is_empty() {
        return Ok(None);
    }
    let message = PrivateMessage {
        from: principal.name().to_owned(),
        to: input.to,
        text,
        at: now_millis(),
    };
    template
        .send_json_to_user(&message.to, INBOX, &message)
        .await?;
    Ok(Some(message))
}

/// `SUBSCRIBE /app/online`: one answer, the names online now (the caller included, even if
/// their "connected" event is still on its way).
#[subscribe_mapping("/online")]
pub async fn online(State(state): State<ChatState>, principal: Option<Principal>) -> Vec<String> {
    let mut names = state.elsewhere.merge(state.online.names());
    if let Some(me) = principal {
        if let Err(at) = names.binary_search_by(|n| n.as_str().cmp(me.name())) {
            names.insert(at, me.name().to_owned());
        }
    }
    names
}
