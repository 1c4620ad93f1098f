-- The customers the model scores: everyone who signed up before the cutoff 2025-10-01,
-- with the profile features (tenure, age, newsletter, one-hot segment and acquisition channel;
-- consumer and organic are the reference levels).
SELECT customer_id,
       country,
       CAST(DATE '2025-10-01' - signup_date AS BIGINT)                  AS tenure_days,
       age,
       is_newsletter,
       CASE WHEN segment = 'smb' THEN 1 ELSE 0 END                      AS is_smb,
       CASE WHEN segment = 'enterprise' THEN 1 ELSE 0 END               AS is_enterprise,
       CASE WHEN acquisition_channel = 'paid_search' THEN 1 ELSE 0 END  AS acquired_paid_search,
       CASE WHEN acquisition_channel = 'social' THEN 1 ELSE 0 END       AS acquired_social,
       CASE WHEN acquisition_channel = 'email' THEN 1 ELSE 0 END        AS acquired_email,
       CASE WHEN acquisition_channel = 'referral' THEN 1 ELSE 0 END     AS acquired_referral
FROM {{ ref('stg_customers') }}
WHERE signup_date < DATE '2025-10-01'
