//! The kinds of autoencoder. The dense kinds change training only at the input (corruption) or
//! at the latent layer (penalties); the variational kind samples its latent during training
//! (see [`super::variational`]); the convolutional kind builds its networks from convolutions
//! (see [`super::convolutional`]). Inference is always `decoder(encoder(x))`, the decoder reading
//! the first `k` encoder outputs (for a variational model, the mean).

use serde::{Deserialize, Serialize};

use super::convolutional::ConvolutionalConfig;
use super::variational::VariationalConfig;
use crate::error::{Error, Result};
use crate::nn::{ActivityPenalty, Corruption};

/// What kind of autoencoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// Plain encoder → latent → decoder.
    Vanilla,
    /// Corrupts inputs during training only; learns to reconstruct the clean row.
    Denoising {
        /// Std of additive gaussian noise, in scaled units (0 = off).
        noise_std: f32,
        /// Fraction of features set to 0 (scaled units) per row (0 = off).
        mask_ratio: f32,
    },
    /// Penalises latent activity: `l1 · mean|z|` and/or `weight · KL(target ‖ mean activation)`.
    Sparse {
        /// L1 activity penalty weight (0 = off).
        l1_activity: f32,
        /// Target mean activation ρ for the KL penalty (needs activations in (0,1)).
        sparsity_target: Option<f32>,
        /// Weight of the KL penalty.
        sparsity_weight: f32,
    },
    /// Variational: a Gaussian latent sampled with the reparameterisation trick, loss
    /// reconstruction + β·KL.
    Variational(VariationalConfig),
    /// Convolutional: 1-D or 2-D convolutions over rows of a given shape.
    Convolutional(ConvolutionalConfig),
}

impl Kind {
    /// Short name as used by the CLI and the model file (`vanilla`, `denoising`, `sparse`,
    /// `variational`, `convolutional`).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Vanilla => "vanilla",
            Kind::Denoising { .. } => "denoising",
            Kind::Sparse { .. } => "sparse",
            Kind::Variational(_) => "variational",
            Kind::Convolutional(_) => "convolutional",
        }
    }

    /// Checks the kind's parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Kind::Vanilla => Ok(()),
            Kind::Variational(ref v) => v.validate(),
            Kind::Convolutional(ref c) => c.validate(),
            Kind::Denoising {
                noise_std,
                mask_ratio,
            } => {
                if !(noise_std.is_finite() && noise_std >= 0.0) {
                    return Err(Error::config(
                        "noise_std",
                        format!("must be a finite number ≥ 0, got {noise_std}"),
                    ));
                }
                if !(0.0..1.0).contains(&mask_ratio) {
                    return Err(Error::config(
                        "mask_ratio",
                        format!("must lie in [0, 1), got {mask_ratio}"),
                    ));
                }
                if noise_std == 0.0 && mask_ratio == 0.0 {
                    return Err(Error::config(
                        "kind",
                        "a denoising autoencoder needs noise_std > 0 or mask_ratio > 0",
                    ));
                }
                Ok(())
            }
            Kind::Sparse {
                l1_activity,
                sparsity_target,
                sparsity_weight,
            } => {
                if !(l1_activity.is_finite() && l1_activity >= 0.0) {
                    return Err(Error::config(
                        "l1_activity",
                        format!("must be a finite number ≥ 0, got {l1_activity}"),
                    ));
                }
                if !(sparsity_weight.is_finite() && sparsity_weight >= 0.0) {
                    return Err(Error::config(
                        "sparsity_weight",
                        format!("must be a finite number ≥ 0, got {sparsity_weight}"),
                    ));
                }
                if let Some(rho) = sparsity_target.filter(|rho| !(*rho > 0.0 && *rho < 1.0)) {
                    return Err(Error::config(
                        "sparsity_target",
                        format!("must lie in (0, 1), got {rho}"),
                    ));
                }
                let kl_on = sparsity_target.is_some() && sparsity_weight > 0.0;
                if l1_activity == 0.0 && !kl_on {
                    return Err(Error::config(
                        "kind",
                        "a sparse autoencoder needs l1_activity > 0, or sparsity_target with sparsity_weight > 0",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Input corruption during training (identity for non-denoising kinds).
    pub fn corruption(&self) -> Corruption {
        match *self {
            Kind::Denoising {
                noise_std,
                mask_ratio,
            } => Corruption {
                noise_std,
                mask_ratio,
            },
            _ => Corruption {
                noise_std: 0.0,
                mask_ratio: 0.0,
            },
        }
    }

    /// Penalty on the latent activations during training (zero for non-sparse kinds).
    pub fn latent_penalty(&self) -> ActivityPenalty {
        match *self {
            Kind::Sparse {
                l1_activity,
                sparsity_target,
                sparsity_weight,
            } => ActivityPenalty {
                l1: l1_activity,
                kl: sparsity_target
                    .filter(|_| sparsity_weight > 0.0)
                    .map(|rho| (rho, sparsity_weight)),
            },
            _ => ActivityPenalty::default(),
        }
    }

    /// True when the latent layer must produce activations in (0, 1) (the KL sparsity penalty):
    /// its activation is then sigmoid whatever the configured hidden activation.
    pub fn needs_unit_interval_latent(&self) -> bool {
        self.latent_penalty().kl.is_some()
    }
}

impl Kind {
    /// The variational parameters, for a variational model.
    pub fn variational(&self) -> Option<&VariationalConfig> {
        match self {
            Kind::Variational(v) => Some(v),
            _ => None,
        }
    }

    /// The convolutional parameters, for a convolutional model.
    pub fn convolutional(&self) -> Option<&ConvolutionalConfig> {
        match self {
            Kind::Convolutional(c) => Some(c),
            _ => None,
        }
    }

    /// Width of the encoder's output for a latent size `k`: `2k` (mean and log-variance) for a
    /// variational model, `k` otherwise.
    pub fn encoder_outputs(&self, k: usize) -> usize {
        match self {
            Kind::Variational(_) => 2 * k,
            _ => k,
        }
    }
}
