//! A Stratum V2 Template Provider fed by `getblocktemplate`: it lets any node with that RPC
//! serve an SV2 pool (`pool_sv2` takes its work only from a Template Provider).
//!
//! [`Session`] is one pool's connection as a pure state machine: frames in, [`Output`]s out.
//! It answers SetupConnection for the template-distribution protocol, waits for the pool's
//! CoinbaseOutputConstraints, then turns each template the node gives it into a future
//! NewTemplate with its SetNewPrevHash (a new tip) or a NewTemplate for the current tip (new
//! transactions), answers RequestTransactionData, and turns SubmitSolution into a block for
//! `submitblock`. `messages.rs` and `solution.rs` are the conversions; [`Server`]
//! (`server.rs`) is the I/O: the Noise responder, the node.

mod messages;
mod server;
mod solution;

pub use messages::{new_template, set_new_prev_hash, COINBASE_TX_VERSION};
pub use server::{frame, Log, Server, ServerOptions, CERT_VALIDITY, DEFAULT_PORT, MAX_CONNECTIONS};
pub use solution::{block, SolvedBlock};

use crate::gbt::Template;
use binary_sv2::{B016MOwned, B064KOwned, Seq064KOwned, Str0255Owned};
use common_messages_sv2::{Protocol, SetupConnectionErrorOwned, SetupConnectionSuccess};
use parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, TemplateDistribution,
    TemplateDistributionOwned,
};
use sha256d::Error;
use std::collections::VecDeque;
use std::sync::Arc;
use template_distribution_sv2::{
    CoinbaseOutputConstraints, RequestTransactionDataErrorOwned, RequestTransactionDataSuccessOwned,
};

/// The template-distribution protocol version spoken (the only one there is).
pub const PROTOCOL_VERSION: u16 = 2;

/// How many templates sent to a pool are kept to answer RequestTransactionData and build
/// blocks from; solutions for older ones are refused (a block on them would be stale).
pub const KEPT_TEMPLATES: usize = 16;

/// The most coinbase output bytes a pool may ask to add without a warning: `getblocktemplate`
/// leaves room for a coinbase (Core reserves 8000 weight units, 2000 vbytes, with its own
/// outputs in them), and cannot be told to leave more.
pub const MAX_ADDITIONAL_OUTPUT_SIZE: u32 = 1000;

/// What the session asks its I/O to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send this message to the pool.
    Send(AnyMessageOwned),
    /// Submit this block to the node (and log its answer).
    Submit(SolvedBlock),
    /// A line for the operator.
    Log(String),
    /// Close the connection after sending what came before (the pool's setup was refused).
    Close,
}

/// One pool connection's state.
#[derive(Debug, Default)]
pub struct Session {
    setup: bool,
    constraints: Option<CoinbaseOutputConstraints>,
    /// The templates sent, oldest first, at most [`KEPT_TEMPLATES`].
    sent: VecDeque<(u64, Arc<Template>)>,
    /// The newest template from the node while the pool is not ready for it.
    waiting: Option<Arc<Template>>,
    next_id: u64,
}

impl Session {
    /// A session that waits for the pool's SetupConnection.
    pub fn new() -> Session {
        Session::default()
    }

    /// Whether the pool has set up the connection and sent its constraints: templates go out
    /// from then on.
    pub fn ready(&self) -> bool {
        self.setup && self.constraints.is_some()
    }

    /// A frame from the pool: its extension type (the channel bit is ignored), message type and
    /// payload. An `Err` is a protocol violation: the connection should be closed with it.
    pub fn on_frame(
        &mut self,
        extension_type: u16,
        message_type: u8,
        payload: &mut [u8],
    ) -> Result<Vec<Output>, Error> {
        if extension_type & 0x7fff != 0 {
            return Err(Error::parse(format!(
                "the pool sent a message of extension {:#06x}, which was never negotiated",
                extension_type & 0x7fff
            )));
        }
        if !self.setup {
            return self.on_setup(message_type, payload);
        }
        let message =
            TemplateDistribution::try_from((message_type, &mut *payload)).map_err(|e| {
                Error::parse(format!(
                    "the pool sent message type {message_type:#04x} that is not a \
                     template-distribution message to a Template Provider: {e:?}"
                ))
            })?;
        match message {
            TemplateDistribution::CoinbaseOutputConstraints(c) => Ok(self.on_constraints(c)),
            TemplateDistribution::RequestTransactionData(r) => {
                Ok(vec![self.transaction_data(r.template_id)])
            }
            TemplateDistribution::SubmitSolution(s) => Ok(vec![self.on_solution(s.into_owned())]),
            _ => Err(Error::parse(format!(
                "the pool sent {}, which only a Template Provider sends",
                parsers_sv2::message_type_to_name(message_type)
            ))),
        }
    }

    /// A template from the node. A new tip goes out as a future NewTemplate and the
    /// SetNewPrevHash that activates it; new work on the same tip as a NewTemplate for now;
    /// the same work (only the clock moved) not at all.
    pub fn on_template(&mut self, template: Arc<Template>) -> Vec<Output> {
        if !self.ready() {
            self.waiting = Some(template);
            return Vec::new();
        }
        let (new_tip, same) = match self.sent.back() {
            None => (true, false),
            Some((_, last)) => (
                last.prev_hash != template.prev_hash,
                last.same_work(&template),
            ),
        };
        if !new_tip && same {
            return Vec::new();
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut out = vec![Output::Send(AnyMessageOwned::TemplateDistribution(
            TemplateDistributionOwned::NewTemplate(new_template(id, new_tip, &template)),
        ))];
        if new_tip {
            out.push(Output::Send(AnyMessageOwned::TemplateDistribution(
                TemplateDistributionOwned::SetNewPrevHash(set_new_prev_hash(id, &template)),
            )));
        }
        if self.sent.len() == KEPT_TEMPLATES {
            self.sent.pop_front();
        }
        self.sent.push_back((id, template));
        out
    }

    fn on_setup(&mut self, message_type: u8, payload: &mut [u8]) -> Result<Vec<Output>, Error> {
        let setup = match CommonMessages::try_from((message_type, payload)) {
            Ok(CommonMessages::SetupConnection(setup)) => setup,
            Ok(_) | Err(_) => {
                return Err(Error::parse(format!(
                    "the pool sent message type {message_type:#04x} before SetupConnection"
                )))
            }
        };
        let refusal = if setup.protocol != Protocol::TemplateDistributionProtocol {
            Some("unsupported-protocol")
        } else if !(setup.min_version..=setup.max_version).contains(&PROTOCOL_VERSION) {
            Some("protocol-version-mismatch")
        } else {
            None
        };
        if let Some(code) = refusal {
            let error = SetupConnectionErrorOwned {
                flags: 0,
                error_code: Str0255Owned::try_from(code).expect("a short ASCII code"),
            };
            return Ok(vec![
                Output::Log(format!(
                    "refused a connection for protocol {:?} versions {}..={}: {code}",
                    setup.protocol, setup.min_version, setup.max_version
                )),
                Output::Send(AnyMessageOwned::Common(
                    CommonMessagesOwned::SetupConnectionError(error),
                )),
                Output::Close,
            ]);
        }
        self.setup = true;
        Ok(vec![Output::Send(AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnectionSuccess(SetupConnectionSuccess {
                used_version: PROTOCOL_VERSION,
                // The protocol defines no flags.
                flags: 0,
            }),
        ))])
    }

    fn on_constraints(&mut self, constraints: CoinbaseOutputConstraints) -> Vec<Output> {
        let size = constraints.coinbase_output_max_additional_size;
        let mut out = vec![Output::Log(format!(
            "the pool adds coinbase outputs of up to {size} bytes and {} sigops",
            constraints.coinbase_output_max_additional_sigops
        ))];
        if size > MAX_ADDITIONAL_OUTPUT_SIZE {
            out.push(Output::Log(format!(
                "warning: getblocktemplate leaves room for about {MAX_ADDITIONAL_OUTPUT_SIZE} \
                 bytes of coinbase outputs, not {size}; a full block may come out too large"
            )));
        }
        let first = self.constraints.is_none();
        self.constraints = Some(constraints);
        if first {
            if let Some(template) = self.waiting.take() {
                out.extend(self.on_template(template));
            }
        }
        out
    }

    fn find(&self, template_id: u64) -> Option<&Arc<Template>> {
        self.sent
            .iter()
            .find(|(id, _)| *id == template_id)
            .map(|(_, t)| t)
    }

    fn transaction_data(&self, template_id: u64) -> Output {
        let error = |code: &str| {
            Output::Send(AnyMessageOwned::TemplateDistribution(
                TemplateDistributionOwned::RequestTransactionDataError(
                    RequestTransactionDataErrorOwned {
                        template_id,
                        error_code: Str0255Owned::try_from(code).expect("a short ASCII code"),
                    },
                ),
            ))
        };
        let Some(template) = self.find(template_id) else {
            return error("template-id-not-found");
        };
        let list: Option<Vec<B016MOwned>> = template
            .transactions
            .iter()
            .map(|t| B016MOwned::new(t.data.clone()).ok())
            .collect();
        // More than 65535 transactions, or one over 16 MiB: the message cannot carry them.
        let Some(list) = list.and_then(|l| Seq064KOwned::new(l).ok()) else {
            return error("template-too-large");
        };
        Output::Send(AnyMessageOwned::TemplateDistribution(
            TemplateDistributionOwned::RequestTransactionDataSuccess(
                RequestTransactionDataSuccessOwned {
                    template_id,
                    excess_data: B064KOwned::new(Vec::new()).expect("empty"),
                    transaction_list: list,
                },
            ),
        ))
    }

    fn on_solution(&self, solution: template_distribution_sv2::SubmitSolutionOwned) -> Output {
        let id = solution.template_id;
        let Some(template) = self.find(id) else {
            return Output::Log(format!(
                "the pool submitted a solution for template {id}, which is unknown or older \
                 than the last {KEPT_TEMPLATES}; not submitted"
            ));
        };
        match block(id, template, &solution) {
            Ok(solved) => Output::Submit(solved),
            Err(e) => Output::Log(format!("{}; not submitted", e.message())),
        }
    }
}

#[cfg(test)]
mod tests;
