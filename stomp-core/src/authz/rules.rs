//! [`DestinationRules`]: an ordered list of "this access to these destinations needs that"
//! rules; the first rule that matches decides.

use std::fmt;
use std::sync::Arc;

use super::{Access, AccessRequest, Decision, DestinationPolicy};
use crate::destination::{
    is_pattern, pattern_covers, patterns_intersect, validate_pattern, Separator,
};

type Predicate = Arc<dyn Fn(&AccessRequest<'_>) -> bool + Send + Sync>;

#[derive(Clone)]
enum Requirement {
    PermitAll,
    DenyAll,
    Authenticated,
    AnyRole(Vec<Arc<str>>),
    Matching(Predicate),
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::PermitAll => f.write_str("PermitAll"),
            Requirement::DenyAll => f.write_str("DenyAll"),
            Requirement::Authenticated => f.write_str("Authenticated"),
            Requirement::AnyRole(roles) => f.debug_tuple("AnyRole").field(roles).finish(),
            Requirement::Matching(_) => f.write_str("Matching(..)"),
        }
    }
}

impl Requirement {
    fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        match self {
            Requirement::PermitAll => Decision::Allow,
            Requirement::DenyAll => Decision::deny(),
            Requirement::Authenticated => match request.principal() {
                Some(_) => Decision::Allow,
                None => Decision::deny_with("authentication required"),
            },
            Requirement::AnyRole(roles) => {
                let ok = request
                    .principal()
                    .is_some_and(|p| roles.iter().any(|r| p.has_role(r)));
                if ok {
                    Decision::Allow
                } else {
                    let names: Vec<&str> = roles.iter().map(|r| &**r).collect();
                    Decision::deny_with(format!("requires role {}", names.join(" or ")))
                }
            }
            Requirement::Matching(predicate) => predicate(request).into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    access: Option<Access>,
    pattern: String,
    requirement: Requirement,
}

/// How a rule's pattern relates to what a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overlap {
    /// The rule matches nothing the request could reach.
    None,
    /// The rule matches some of it.
    Some,
    /// The rule matches all of it (always the case for a matching plain destination).
    All,
}

impl Rule {
    fn overlap(&self, destination: &str, separator: Separator) -> Overlap {
        if !is_pattern(destination) {
            // A plain destination is a pattern matching only itself; the intersection walk
            // is linear in its length whatever `**` the rule holds (the backtracking
            // reference matcher would be quadratic on a long, peer-chosen destination).
            return if patterns_intersect(&self.pattern, destination, separator) == Ok(true) {
                Overlap::All
            } else {
                Overlap::None
            };
        }
        match patterns_intersect(&self.pattern, destination, separator) {
            Ok(false) => Overlap::None,
            Ok(true) => match pattern_covers(&self.pattern, destination, separator) {
                Ok(true) => Overlap::All,
                _ => Overlap::Some,
            },
            // Not a pattern we can read: it could match anything.
            Err(_) => Overlap::Some,
        }
    }
}

/// A rule-based [`DestinationPolicy`]: rules are tried in the order they were added and the
/// first whose access kind and pattern match decides. When none matches, the fallback
/// decides (allow, unless [`otherwise_deny`](Self::otherwise_deny) was called).
///
/// Rule patterns are the broker's own destination patterns ([`crate::destination`]): `*`
/// is one whole segment, `**` any number of segments (`/topic/admin/**` matches
/// `/topic/admin` and everything below it), split on `/` unless the rules are made
/// [`with_separator`](Self::with_separator)`(Separator::Dot)`; use the separator your
/// broker uses. Patterns are matched against the destination as the client sent it, so
/// user destinations appear unresolved (`/user/queue/reply`).
///
/// **A pattern SUBSCRIBE is judged as the set of destinations it could match.** Rules are
/// walked in order; a rule whose pattern cannot match any destination the subscription
/// could is skipped; the first rule that matches *all* of them
/// ([`pattern_covers`]) decides; a rule that matches *some* of them and refuses refuses the
/// subscription; one that allows lets the walk go on (the rest of the set is still
/// undecided), and the fallback decides at the end. So with a rule
/// `.subscribe("/topic/admin/**").role("admin")`, a non-admin SUBSCRIBE to `/topic/**` or
/// `/topic/*/secret` is refused, because both could receive admin traffic. The answer is
/// conservative: a pattern made entirely of allowed destinations can still be refused if
/// no single rule covers it and the fallback refuses. A [`matching`](RuleBuilder::matching)
/// predicate sees the pattern itself in [`AccessRequest::destination`], so it must judge
/// wildcards conservatively (e.g. refuse any destination containing `*`). A destination with
/// a `*` that is not a valid pattern under the rules' separator is treated as able to
/// match anything.
///
/// ```
/// use stomp_core::authz::DestinationRules;
///
/// let rules = DestinationRules::new()
///     .subscribe("/topic/admin/**").role("admin")
///     .send("/topic/**").deny_all()           // only the server publishes to topics
///     .any("/app/**").authenticated()
///     .otherwise_deny();
/// # let _ = rules;
/// ```
#[derive(Debug, Clone)]
pub struct DestinationRules {
    rules: Vec<Rule>,
    otherwise: Requirement,
    separator: Separator,
}

impl Default for DestinationRules {
    fn default() -> Self {
        DestinationRules::new()
    }
}

impl DestinationRules {
    /// No rules; everything is allowed until rules are added. Patterns split on `/`.
    pub fn new() -> Self {
        DestinationRules::with_separator(Separator::Slash)
    }

    /// No rules, with patterns (rules' and subscriptions') split on `separator`: the one
    /// the broker uses (`SimpleBrokerConfig::separator`).
    ///
    /// ```
    /// use stomp_core::authz::DestinationRules;
    /// use stomp_core::destination::Separator;
    ///
    /// let rules = DestinationRules::with_separator(Separator::Dot)
    ///     .subscribe("topic.admin.**").role("admin");
    /// # let _ = rules;
    /// ```
    pub fn with_separator(separator: Separator) -> Self {
        DestinationRules {
            rules: Vec::new(),
            otherwise: Requirement::PermitAll,
            separator,
        }
    }

    /// The separator patterns split on.
    pub fn separator(&self) -> Separator {
        self.separator
    }

    #[track_caller]
    fn rule(self, access: Option<Access>, pattern: &str) -> RuleBuilder {
        if let Err(e) = validate_pattern(pattern, self.separator) {
            panic!("invalid DestinationRules pattern {pattern:?}: {e}");
        }
        RuleBuilder {
            rules: self,
            access,
            pattern: pattern.to_owned(),
        }
    }

    /// A rule for SUBSCRIBEs to destinations matching `pattern`.
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid destination pattern
    /// ([`validate_pattern`](crate::destination::validate_pattern): wildcards are whole
    /// segments, at most two `**`). Rules are written by the application, never by a peer.
    #[track_caller]
    pub fn subscribe(self, pattern: &str) -> RuleBuilder {
        self.rule(Some(Access::Subscribe), pattern)
    }

    /// A rule for SENDs to destinations matching `pattern`.
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid destination pattern (as [`subscribe`](Self::subscribe)).
    #[track_caller]
    pub fn send(self, pattern: &str) -> RuleBuilder {
        self.rule(Some(Access::Send), pattern)
    }

    /// A rule for SUBSCRIBEs and SENDs to destinations matching `pattern`.
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid destination pattern (as [`subscribe`](Self::subscribe)).
    #[track_caller]
    pub fn any(self, pattern: &str) -> RuleBuilder {
        self.rule(None, pattern)
    }

    /// Builder: refuse whatever no rule matches.
    #[must_use]
    pub fn otherwise_deny(mut self) -> Self {
        self.otherwise = Requirement::DenyAll;
        self
    }

    /// Builder: allow whatever no rule matches (the default).
    #[must_use]
    pub fn otherwise_allow(mut self) -> Self {
        self.otherwise = Requirement::PermitAll;
        self
    }

    /// Builder: whatever no rule matches needs an authenticated session.
    #[must_use]
    pub fn otherwise_authenticated(mut self) -> Self {
        self.otherwise = Requirement::Authenticated;
        self
    }
}

impl DestinationPolicy for DestinationRules {
    fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        for rule in &self.rules {
            if rule.access.is_some_and(|a| a != request.access) {
                continue;
            }
            match rule.overlap(request.destination, self.separator) {
                Overlap::None => {}
                Overlap::All => return rule.requirement.decide(request),
                Overlap::Some => {
                    let decision = rule.requirement.decide(request);
                    if !decision.is_allowed() {
                        return decision;
                    }
                }
            }
        }
        self.otherwise.decide(request)
    }
}

/// A rule being written: say what it requires to finish it.
#[derive(Debug)]
#[must_use = "a rule is only added once its requirement is given"]
pub struct RuleBuilder {
    rules: DestinationRules,
    access: Option<Access>,
    pattern: String,
}

impl RuleBuilder {
    fn require(mut self, requirement: Requirement) -> DestinationRules {
        self.rules.rules.push(Rule {
            access: self.access,
            pattern: self.pattern,
            requirement,
        });
        self.rules
    }

    /// Anyone may.
    pub fn permit_all(self) -> DestinationRules {
        self.require(Requirement::PermitAll)
    }

    /// No one may.
    pub fn deny_all(self) -> DestinationRules {
        self.require(Requirement::DenyAll)
    }

    /// Authenticated sessions may.
    pub fn authenticated(self) -> DestinationRules {
        self.require(Requirement::Authenticated)
    }

    /// Principals with `role` may.
    pub fn role(self, role: &str) -> DestinationRules {
        self.require(Requirement::AnyRole(vec![Arc::from(role)]))
    }

    /// Principals with at least one of `roles` may.
    pub fn any_role<I, R>(self, roles: I) -> DestinationRules
    where
        I: IntoIterator<Item = R>,
        R: Into<Arc<str>>,
    {
        self.require(Requirement::AnyRole(
            roles.into_iter().map(Into::into).collect(),
        ))
    }

    /// Requests for which `predicate` returns `true` may.
    pub fn matching<F>(self, predicate: F) -> DestinationRules
    where
        F: Fn(&AccessRequest<'_>) -> bool + Send + Sync + 'static,
    {
        self.require(Requirement::Matching(Arc::new(predicate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Attributes, Principal, SessionId, SessionInfo};
    use crate::version::Version;

    fn session(principal: Option<Principal>) -> SessionInfo {
        SessionInfo {
            id: SessionId::from("s1"),
            principal,
            version: Version::V1_2,
            attributes: Attributes::default(),
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let rules = DestinationRules::new()
            .subscribe("/topic/admin/**")
            .role("admin")
            .send("/topic/**")
            .deny_all()
            .any("/queue/**")
            .authenticated()
            .subscribe("/topic/owner/*")
            .matching(|r| {
                r.principal()
                    .is_some_and(|p| r.destination.ends_with(p.name()))
            })
            .otherwise_deny()
            .subscribe("/topic/**")
            .permit_all();
        let admin = session(Some(Principal::new("root").with_roles(["admin"])));
        let ann = session(Some(Principal::new("ann")));
        let anon = session(None);
        let table = [
            (&admin, Access::Subscribe, "/topic/admin/stats", true),
            (&ann, Access::Subscribe, "/topic/admin/stats", false),
            (&anon, Access::Subscribe, "/topic/admin", false),
            (&admin, Access::Send, "/topic/news", false),
            (&ann, Access::Subscribe, "/topic/news", true),
            (&ann, Access::Send, "/queue/work", true),
            (&anon, Access::Subscribe, "/queue/work", false),
            (&ann, Access::Subscribe, "/topic/owner/ann", true),
            (&ann, Access::Subscribe, "/topic/owner/bob", false),
            (&ann, Access::Send, "/app/chat", false),
        ];
        for (s, access, destination, want) in table {
            let req = AccessRequest {
                access,
                session: s,
                destination,
            };
            assert_eq!(
                rules.decide(&req).is_allowed(),
                want,
                "{access} {destination} by {:?}",
                s.principal
            );
        }
    }

    fn decide(rules: &DestinationRules, s: &SessionInfo, access: Access, d: &str) -> bool {
        rules
            .decide(&AccessRequest {
                access,
                session: s,
                destination: d,
            })
            .is_allowed()
    }

    #[test]
    fn patterns_are_judged_as_sets() {
        let rules = DestinationRules::new()
            .subscribe("/topic/admin/**")
            .role("admin")
            .subscribe("/topic/public/**")
            .permit_all()
            .otherwise_authenticated();
        let admin = session(Some(Principal::new("root").with_roles(["admin"])));
        let ann = session(Some(Principal::new("ann")));
        let anon = session(None);
        let table = [
            (&ann, "/topic/**", false),
            (&ann, "/topic/*/secret", false),
            (&ann, "/topic/*", false),
            (&ann, "/**", false),
            (&ann, "/*/admin/x", false),
            (&ann, "/topic/news/*", true),
            (&ann, "/topic/admin*", false),
            (&admin, "/topic/**", true),
            (&admin, "/topic/admin/*", true),
            (&anon, "/topic/public/*", true),
            (&anon, "/topic/public/**", true),
            (&anon, "/topic/news/*", false),
        ];
        for (s, destination, want) in table {
            assert_eq!(
                decide(&rules, s, Access::Subscribe, destination),
                want,
                "SUBSCRIBE {destination} by {:?}",
                s.principal
            );
        }
    }

    #[test]
    fn dot_separated_patterns_are_judged_as_sets() {
        let rules = DestinationRules::with_separator(Separator::Dot)
            .subscribe("topic.admin.**")
            .role("admin");
        let ann = session(Some(Principal::new("ann")));
        assert!(!decide(&rules, &ann, Access::Subscribe, "topic.*.secret"));
        assert!(!decide(&rules, &ann, Access::Subscribe, "topic.**"));
        assert!(!decide(&rules, &ann, Access::Subscribe, "topic.admin.x"));
        assert!(decide(&rules, &ann, Access::Subscribe, "topic.news.*"));
        assert!(decide(&rules, &ann, Access::Subscribe, "topic.news.x"));
    }

    #[test]
    #[should_panic(expected = "invalid DestinationRules pattern")]
    fn partial_wildcards_in_rules_are_refused() {
        let _ = DestinationRules::new().send("/topic/price.*").deny_all();
    }

    #[test]
    fn no_rules_allow_everything() {
        let s = session(None);
        let req = AccessRequest {
            access: Access::Send,
            session: &s,
            destination: "/anything",
        };
        assert!(DestinationRules::new().decide(&req).is_allowed());
        assert!(!DestinationRules::new()
            .otherwise_deny()
            .decide(&req)
            .is_allowed());
    }

    #[test]
    fn role_refusals_say_which_role() {
        let s = session(Some(Principal::new("ann")));
        let req = AccessRequest {
            access: Access::Subscribe,
            session: &s,
            destination: "/topic/admin",
        };
        let rules = DestinationRules::new()
            .any("/topic/admin")
            .any_role(["admin", "ops"]);
        assert_eq!(
            rules.decide(&req),
            Decision::deny_with("requires role admin or ops")
        );
    }
}
