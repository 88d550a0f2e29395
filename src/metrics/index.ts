// Classification metrics (scikit-learn's definitions) and fold summaries.

export {
  MetricsError,
  accuracy,
  averageReports,
  classificationReport,
  confusionMatrix,
  formatFixed,
  logLoss,
  meanStd,
  precisionRecallFscoreSupport,
  type AveragedReport,
  type AveragedRow,
  type Averages,
  type ClassificationReport,
  type IllDefined,
  type Labels,
  type LogLossOptions,
  type MeanStd,
  type PrecisionRecallFscoreSupport,
  type ReportOptions,
  type ReportRow,
} from './classification.js';
