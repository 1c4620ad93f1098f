select count(*) as c from {{ ref('early') }}
