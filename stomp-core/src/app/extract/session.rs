//! Extractors about the calling session and the server: `Principal`, `SessionInfo`,
//! `SessionId`, `Attributes`, `MessagingTemplate`, `UserRegistry`, `Frame`.

use std::convert::Infallible;

use super::{FromMessage, MissingPrincipal};
use crate::app::MessageContext;
use crate::frame::Frame;
use crate::identity::{Attributes, Principal, SessionId, SessionInfo};
use crate::template::MessagingTemplate;
use crate::user::UserRegistry;

impl<S: Sync> FromMessage<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, MissingPrincipal> {
        ctx.session().principal.clone().ok_or(MissingPrincipal)
    }
}

macro_rules! infallible {
    ($($t:ty => |$ctx:ident| $e:expr),* $(,)?) => {$(
        impl<S: Sync> FromMessage<S> for $t {
            type Rejection = Infallible;

            async fn from_message($ctx: &MessageContext, _: &S) -> Result<Self, Infallible> {
                Ok($e)
            }
        }
    )*};
}

infallible! {
    SessionInfo => |ctx| ctx.session().clone(),
    SessionId => |ctx| ctx.session().id.clone(),
    Attributes => |ctx| ctx.session().attributes.clone(),
    MessagingTemplate => |ctx| ctx.template().clone(),
    // Who is online (Spring's `SimpUserRegistry`): the registry of the engine's user destinations.
    UserRegistry => |ctx| ctx.template().channel().user_registry().clone(),
    Frame => |ctx| ctx.frame().clone(),
    MessageContext => |ctx| ctx.clone(),
}
