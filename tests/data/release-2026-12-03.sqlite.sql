BEGIN TRANSACTION;
CREATE TABLE generation (
	id INTEGER NOT NULL, 
	result_id INTEGER NOT NULL, 
	prompt_index INTEGER NOT NULL, 
	prompt VARCHAR NOT NULL, 
	text VARCHAR NOT NULL, 
	n_tokens INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(result_id) REFERENCES result (id)
);
INSERT INTO "generation" VALUES(1,1,0,'Explain in two sentences what quantization does to a neural network.',' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely',8);
INSERT INTO "generation" VALUES(2,1,1,'Write a haiku about autumn.','''(''(''(''(''(''(''(''(',8);
INSERT INTO "generation" VALUES(3,1,2,'What is the capital of France, and what is it known for?',' prints prints prints prints prints prints prints prints',8);
INSERT INTO "generation" VALUES(4,2,0,'Explain in two sentences what quantization does to a neural network.',' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely',8);
INSERT INTO "generation" VALUES(5,2,1,'Write a haiku about autumn.','''(''(''(''(''(''(''(''(',8);
INSERT INTO "generation" VALUES(6,2,2,'What is the capital of France, and what is it known for?',' prints prints prints prints prints prints prints prints',8);
INSERT INTO "generation" VALUES(7,3,0,'Explain in two sentences what quantization does to a neural network.',' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely',8);
INSERT INTO "generation" VALUES(8,3,1,'Write a haiku about autumn.','''(''(''(''(''(''(''(''(',8);
INSERT INTO "generation" VALUES(9,3,2,'What is the capital of France, and what is it known for?',' prints prints prints prints prints prints prints prints',8);
INSERT INTO "generation" VALUES(10,4,0,'Explain in two sentences what quantization does to a neural network.',' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely',8);
INSERT INTO "generation" VALUES(11,4,1,'Write a haiku about autumn.','''(''(''(''(''(''(''(''(',8);
INSERT INTO "generation" VALUES(12,4,2,'What is the capital of France, and what is it known for?',' prints prints prints prints prints prints prints prints',8);
CREATE TABLE job (
	id INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	model_key VARCHAR NOT NULL, 
	recipe VARCHAR NOT NULL, 
	recipe_name VARCHAR, 
	options JSON, 
	eval_text_path VARCHAR NOT NULL, 
	eval_text_sha VARCHAR NOT NULL, 
	n_ctx INTEGER NOT NULL, 
	max_chunks INTEGER, 
	prompts JSON, 
	max_new_tokens INTEGER NOT NULL, 
	dedupe_key VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	stage VARCHAR NOT NULL, 
	progress FLOAT NOT NULL, 
	eta_seconds FLOAT, 
	stages JSON, 
	stage_number INTEGER DEFAULT '0' NOT NULL, 
	stage_started_at DATETIME, 
	expected_seconds FLOAT, 
	stage_plan JSON, 
	error VARCHAR, 
	pid INTEGER, 
	worker VARCHAR, 
	heartbeat_at DATETIME, 
	cancel_requested BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "job" VALUES(1,'/home/ada/models/tiny-llama','3d7928da07aa4008','gguf:Q8_0','gguf','{"type": "Q8_0", "imatrix": "auto", "imatrix_text": "builtin", "output_type": "default", "embedding_type": "default", "tensor_types": "", "checkpoint_kld": true, "threads": 0}','/home/ada/wikitext-head.txt','32d31e14a0255e5d',128,2,'["Explain in two sentences what quantization does to a neural network.", "Write a haiku about autumn.", "What is the capital of France, and what is it known for?"]',8,'fb2356d52b49c01186bfc260','done','done',1.0,0.0,'["preflight", "convert", "quantize", "evaluate", "store", "divergence vs checkpoint", "evaluate base", "divergence vs checkpoint"]',8,'2026-12-03 14:52:47.348847',2.70519193278087151095e+01,'{}',NULL,NULL,'vm:17909','2026-12-03 14:52:52.904229',0,'2026-12-03 14:52:22.737826','2026-12-03 14:52:22.808100','2026-12-03 14:52:53.770282');
INSERT INTO "job" VALUES(2,'/home/ada/models/tiny-llama','3d7928da07aa4008','int8-rtn','int8-rtn','{"scheme": "symmetric", "granularity": "per-channel", "group_size": 64, "keep": ""}','/home/ada/wikitext-head.txt','32d31e14a0255e5d',128,2,'["Explain in two sentences what quantization does to a neural network.", "Write a haiku about autumn.", "What is the capital of France, and what is it known for?"]',8,'5ed57fbac69e243b6d0162b8','done','done',1.0,0.0,'["preflight", "quantize", "evaluate", "store", "evaluate base"]',5,'2026-12-03 14:53:09.354416',2.67372681401051082161e+01,'{}',NULL,NULL,'vm:17909','2026-12-03 14:53:15.207906',0,'2026-12-03 14:52:22.740776','2026-12-03 14:52:55.143020','2026-12-03 14:53:16.928948');
INSERT INTO "job" VALUES(3,'/home/ada/models/tiny-llama','3d7928da07aa4008','sensitivity','sensitivity','{"family": "gguf"}','/home/ada/quantization-studio/studio/data/calibration-sample.txt','9c8742d7ff04aef7',128,1,'[]',64,'b277c84eb2789e2a00de0df3','done','done',1.0,NULL,'["preflight", "convert", "quantize", "sensitivity", "store"]',5,'2026-12-03 14:53:30.378036',NULL,'{}',NULL,NULL,'vm:18103','2026-12-03 14:53:29.268491',0,'2026-12-03 14:53:19.186755','2026-12-03 14:53:19.216491','2026-12-03 14:53:30.392243');
CREATE TABLE joblog (
	id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	line VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES job (id)
);
INSERT INTO "joblog" VALUES(1,1,'2026-12-03 14:52:23.346270','== stage: preflight');
INSERT INTO "joblog" VALUES(2,1,'2026-12-03 14:52:23.578246','== stage: convert');
INSERT INTO "joblog" VALUES(3,1,'2026-12-03 14:52:25.577008','INFO:hf-to-gguf:Loading model: tiny-llama');
INSERT INTO "joblog" VALUES(4,1,'2026-12-03 14:52:26.867447','INFO:hf-to-gguf:Model architecture: LlamaForCausalLM');
INSERT INTO "joblog" VALUES(5,1,'2026-12-03 14:52:26.876632','INFO:hf-to-gguf:gguf: indexing model part ''model.safetensors''');
INSERT INTO "joblog" VALUES(6,1,'2026-12-03 14:52:26.876905','INFO:gguf.gguf_writer:gguf: This GGUF file is for Little Endian only');
INSERT INTO "joblog" VALUES(7,1,'2026-12-03 14:52:26.878607','INFO:hf-to-gguf:Exporting model...');
INSERT INTO "joblog" VALUES(8,1,'2026-12-03 14:52:26.879351','INFO:hf-to-gguf:token_embd.weight,          torch.float16 --> F16, shape = {256, 49152}');
INSERT INTO "joblog" VALUES(9,1,'2026-12-03 14:52:26.879487','INFO:hf-to-gguf:blk.0.attn_norm.weight,     torch.float16 --> F32, shape = {256}');
INSERT INTO "joblog" VALUES(10,1,'2026-12-03 14:52:26.883199','INFO:hf-to-gguf:blk.0.ffn_down.weight,      torch.float16 --> F16, shape = {512, 256}');
INSERT INTO "joblog" VALUES(11,1,'2026-12-03 14:52:26.883202','INFO:hf-to-gguf:blk.0.attn_k.weight,        torch.float16 --> F16, shape = {256, 128}');
INSERT INTO "joblog" VALUES(12,1,'2026-12-03 14:52:26.883203','INFO:hf-to-gguf:blk.1.attn_norm.weight,     torch.float16 --> F32, shape = {256}');
INSERT INTO "joblog" VALUES(13,1,'2026-12-03 14:52:26.883204','INFO:hf-to-gguf:blk.1.ffn_down.weight,      torch.float16 --> F16, shape = {512, 256}');
INSERT INTO "joblog" VALUES(14,1,'2026-12-03 14:52:26.883205','INFO:hf-to-gguf:blk.1.attn_k.weight,        torch.float16 --> F16, shape = {256, 128}');
INSERT INTO "joblog" VALUES(15,1,'2026-12-03 14:52:26.883206','INFO:hf-to-gguf:output_norm.weight,         torch.float16 --> F32, shape = {256}');
INSERT INTO "joblog" VALUES(16,1,'2026-12-03 14:52:26.883207','INFO:hf-to-gguf:Set meta model');
INSERT INTO "joblog" VALUES(17,1,'2026-12-03 14:52:26.883209','INFO:hf-to-gguf:Set model parameters');
INSERT INTO "joblog" VALUES(18,1,'2026-12-03 14:52:26.883210','INFO:hf-to-gguf:gguf: context length = 2048');
INSERT INTO "joblog" VALUES(19,1,'2026-12-03 14:52:26.883212','INFO:hf-to-gguf:gguf: embedding length = 256');
INSERT INTO "joblog" VALUES(20,1,'2026-12-03 14:52:26.883213','INFO:hf-to-gguf:gguf: feed forward length = 512');
INSERT INTO "joblog" VALUES(21,1,'2026-12-03 14:52:26.883214','INFO:hf-to-gguf:gguf: head count = 4');
INSERT INTO "joblog" VALUES(22,1,'2026-12-03 14:52:26.883215','INFO:hf-to-gguf:gguf: key-value head count = 2');
INSERT INTO "joblog" VALUES(23,1,'2026-12-03 14:52:26.883216','WARNING:hf-to-gguf:Unknown RoPE type: default');
INSERT INTO "joblog" VALUES(24,1,'2026-12-03 14:52:26.883217','INFO:hf-to-gguf:gguf: rope scaling type = NONE');
INSERT INTO "joblog" VALUES(25,1,'2026-12-03 14:52:26.883218','INFO:hf-to-gguf:gguf: rms norm epsilon = 1e-06');
INSERT INTO "joblog" VALUES(26,1,'2026-12-03 14:52:26.883219','INFO:hf-to-gguf:gguf: file type = 1');
INSERT INTO "joblog" VALUES(27,1,'2026-12-03 14:52:26.883219','INFO:hf-to-gguf:Set model quantization version');
INSERT INTO "joblog" VALUES(28,1,'2026-12-03 14:52:27.783759','INFO:gguf.vocab:Adding 48900 merge(s).');
INSERT INTO "joblog" VALUES(29,1,'2026-12-03 14:52:27.786263','INFO:gguf.vocab:Setting special token type bos to 1');
INSERT INTO "joblog" VALUES(30,1,'2026-12-03 14:52:27.786267','You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>');
INSERT INTO "joblog" VALUES(31,1,'2026-12-03 14:52:27.786267',''' }}{% endif %}{{''<|im_start|>'' + message[''role''] + ''');
INSERT INTO "joblog" VALUES(32,1,'2026-12-03 14:52:27.786268',''' + message[''content''] + ''<|im_end|>'' + ''');
INSERT INTO "joblog" VALUES(33,1,'2026-12-03 14:52:27.786269','''}}{% endfor %}{% if add_generation_prompt %}{{ ''<|im_start|>assistant');
INSERT INTO "joblog" VALUES(34,1,'2026-12-03 14:52:27.786269',''' }}{% endif %}');
INSERT INTO "joblog" VALUES(35,1,'2026-12-03 14:52:27.787644','INFO:gguf.gguf_writer:Writing the following files:');
INSERT INTO "joblog" VALUES(36,1,'2026-12-03 14:52:27.787647','INFO:gguf.gguf_writer:/home/ada/studio-workspace/tmp/job-1/base-f16.gguf: n_tensors = 20, total_size = 27.5M');
INSERT INTO "joblog" VALUES(37,1,'2026-12-03 14:52:27.949480','');
INSERT INTO "joblog" VALUES(38,1,'2026-12-03 14:52:27.979713','Writing:   0%|          | 0.00/27.5M [00:00<?, ?byte/s]');
INSERT INTO "joblog" VALUES(39,1,'2026-12-03 14:52:27.979728','Writing: 100%|██████████| 27.5M/27.5M [00:00<00:00, 915Mbyte/s]');
INSERT INTO "joblog" VALUES(40,1,'2026-12-03 14:52:27.979731','INFO:hf-to-gguf:Model successfully exported to /home/ada/studio-workspace/tmp/job-1/base-f16.gguf');
INSERT INTO "joblog" VALUES(41,1,'2026-12-03 14:52:28.773960','== stage: quantize');
INSERT INTO "joblog" VALUES(42,1,'2026-12-03 14:52:28.795381','llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO "joblog" VALUES(43,1,'2026-12-03 14:52:28.803169','llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO "joblog" VALUES(44,1,'2026-12-03 14:52:28.803189','llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO "joblog" VALUES(45,1,'2026-12-03 14:52:28.803190','llama_model_loader: - kv   1:                               general.type str              = model');
INSERT INTO "joblog" VALUES(46,1,'2026-12-03 14:52:28.803191','llama_model_loader: - kv   2:                               general.name str              = Tiny Llama');
INSERT INTO "joblog" VALUES(47,1,'2026-12-03 14:52:28.803195','llama_model_loader: - kv   3:                         general.size_label str              = 14M');
INSERT INTO "joblog" VALUES(48,1,'2026-12-03 14:52:28.803196','llama_model_loader: - kv   4:                          llama.block_count u32              = 2');
INSERT INTO "joblog" VALUES(49,1,'2026-12-03 14:52:28.803197','llama_model_loader: - kv   5:                       llama.context_length u32              = 2048');
INSERT INTO "joblog" VALUES(50,1,'2026-12-03 14:52:28.803198','llama_model_loader: - kv   6:                     llama.embedding_length u32              = 256');
INSERT INTO "joblog" VALUES(51,1,'2026-12-03 14:52:28.803199','llama_model_loader: - kv   7:                  llama.feed_forward_length u32              = 512');
INSERT INTO "joblog" VALUES(52,1,'2026-12-03 14:52:28.803200','llama_model_loader: - kv   8:                 llama.attention.head_count u32              = 4');
INSERT INTO "joblog" VALUES(53,1,'2026-12-03 14:52:28.803201','llama_model_loader: - kv   9:              llama.attention.head_count_kv u32              = 2');
INSERT INTO "joblog" VALUES(54,1,'2026-12-03 14:52:28.803201','llama_model_loader: - kv  10:                       llama.rope.freq_base f32              = 10000.000000');
INSERT INTO "joblog" VALUES(55,1,'2026-12-03 14:52:28.803204','llama_model_loader: - kv  11:     llama.attention.layer_norm_rms_epsilon f32              = 0.000001');
INSERT INTO "joblog" VALUES(56,1,'2026-12-03 14:52:28.803205','llama_model_loader: - kv  12:                 llama.attention.key_length u32              = 64');
INSERT INTO "joblog" VALUES(57,1,'2026-12-03 14:52:28.803206','llama_model_loader: - kv  13:               llama.attention.value_length u32              = 64');
INSERT INTO "joblog" VALUES(58,1,'2026-12-03 14:52:28.803207','llama_model_loader: - kv  14:                          general.file_type u32              = 1');
INSERT INTO "joblog" VALUES(59,1,'2026-12-03 14:52:28.803207','llama_model_loader: - kv  15:                           llama.vocab_size u32              = 49152');
INSERT INTO "joblog" VALUES(60,1,'2026-12-03 14:52:28.803208','llama_model_loader: - kv  16:                 llama.rope.dimension_count u32              = 64');
INSERT INTO "joblog" VALUES(61,1,'2026-12-03 14:52:28.803209','llama_model_loader: - kv  17:               general.quantization_version u32              = 2');
INSERT INTO "joblog" VALUES(62,1,'2026-12-03 14:52:28.803210','llama_model_loader: - kv  18:                       tokenizer.ggml.model str              = gpt2');
INSERT INTO "joblog" VALUES(63,1,'2026-12-03 14:52:28.803211','llama_model_loader: - kv  19:                         tokenizer.ggml.pre str              = smollm');
INSERT INTO "joblog" VALUES(64,1,'2026-12-03 14:52:28.803981','llama_model_loader: - kv  20:                      tokenizer.ggml.tokens arr[str,49152]   = ["<|endoftext|>", "<|im_start|>", "<|...');
INSERT INTO "joblog" VALUES(65,1,'2026-12-03 14:52:28.811067','llama_model_loader: - kv  21:                  tokenizer.ggml.token_type arr[i32,49152]   = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, ...');
INSERT INTO "joblog" VALUES(66,1,'2026-12-03 14:52:28.819094','llama_model_loader: - kv  22:                      tokenizer.ggml.merges arr[str,48900]   = ["Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ...');
INSERT INTO "joblog" VALUES(67,1,'2026-12-03 14:52:28.819106','llama_model_loader: - kv  23:                tokenizer.ggml.bos_token_id u32              = 1');
INSERT INTO "joblog" VALUES(68,1,'2026-12-03 14:52:28.819107','llama_model_loader: - kv  24:                tokenizer.ggml.eos_token_id u32              = 2');
INSERT INTO "joblog" VALUES(69,1,'2026-12-03 14:52:28.819108','llama_model_loader: - kv  25:            tokenizer.ggml.unknown_token_id u32              = 0');
INSERT INTO "joblog" VALUES(70,1,'2026-12-03 14:52:28.819109','llama_model_loader: - kv  26:            tokenizer.ggml.padding_token_id u32              = 2');
INSERT INTO "joblog" VALUES(71,1,'2026-12-03 14:52:28.819110','llama_model_loader: - kv  27:                    tokenizer.chat_template str              = {% for message in messages %}{% if lo...');
INSERT INTO "joblog" VALUES(72,1,'2026-12-03 14:52:28.819112','llama_model_loader: - kv  28:               tokenizer.ggml.add_bos_token bool             = false');
INSERT INTO "joblog" VALUES(73,1,'2026-12-03 14:52:28.819116','llama_model_loader: - type  f32:    5 tensors');
INSERT INTO "joblog" VALUES(74,1,'2026-12-03 14:52:28.819118','llama_model_loader: - type  f16:   15 tensors');
INSERT INTO "joblog" VALUES(75,1,'2026-12-03 14:52:28.853246','[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(76,1,'2026-12-03 14:52:28.982556','[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q8_0 .. size =    24.00 MiB ->    12.75 MiB');
INSERT INTO "joblog" VALUES(77,1,'2026-12-03 14:52:28.987200','[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(78,1,'2026-12-03 14:52:28.987278','[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(79,1,'2026-12-03 14:52:28.987796','[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(80,1,'2026-12-03 14:52:28.988282','[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(81,1,'2026-12-03 14:52:28.988564','[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(82,1,'2026-12-03 14:52:28.989422','[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(83,1,'2026-12-03 14:52:28.990312','[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(84,1,'2026-12-03 14:52:28.990344','[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(85,1,'2026-12-03 14:52:28.991315','[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(86,1,'2026-12-03 14:52:28.991727','[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(87,1,'2026-12-03 14:52:28.991730','[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(88,1,'2026-12-03 14:52:28.992104','[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(89,1,'2026-12-03 14:52:28.992581','[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(90,1,'2026-12-03 14:52:28.992860','[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(91,1,'2026-12-03 14:52:28.993828','[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(92,1,'2026-12-03 14:52:28.994709','[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(93,1,'2026-12-03 14:52:28.994740','[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(94,1,'2026-12-03 14:52:28.995668','[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(95,1,'2026-12-03 14:52:29.002548','llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO "joblog" VALUES(96,1,'2026-12-03 14:52:29.007117','llama_model_quantize_impl: quant size  =    13.95 MiB (8.50 BPW)');
INSERT INTO "joblog" VALUES(97,1,'2026-12-03 14:52:29.007124','== stage: evaluate');
INSERT INTO "joblog" VALUES(98,1,'2026-12-03 14:52:29.077595','llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO "joblog" VALUES(99,1,'2026-12-03 14:52:36.337209','base logits kept for the next jobs on this comparison: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-logits/b02e983ce8160c6f');
INSERT INTO "joblog" VALUES(100,1,'2026-12-03 14:52:36.491161','== stage: store');
INSERT INTO "joblog" VALUES(101,1,'2026-12-03 14:52:36.517971','== stage: divergence vs checkpoint');
INSERT INTO "joblog" VALUES(102,1,'2026-12-03 14:52:36.585042','llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO "joblog" VALUES(103,1,'2026-12-03 14:52:44.137857','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO "joblog" VALUES(104,1,'2026-12-03 14:52:44.332903','W1203 14:52:44.332000 18033 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(105,1,'2026-12-03 14:52:44.365059','W1203 14:52:44.364000 18033 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(106,1,'2026-12-03 14:52:44.501795','');
INSERT INTO "joblog" VALUES(107,1,'2026-12-03 14:52:44.651230','Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO "joblog" VALUES(108,1,'2026-12-03 14:52:44.652945','Loading weights:   5%|▌         | 1/20 [00:00<00:02,  6.68it/s]');
INSERT INTO "joblog" VALUES(109,1,'2026-12-03 14:52:44.652964','Loading weights: 100%|██████████| 20/20 [00:00<00:00, 132.85it/s]');
INSERT INTO "joblog" VALUES(110,1,'2026-12-03 14:52:46.503108','== stage: evaluate base');
INSERT INTO "joblog" VALUES(111,1,'2026-12-03 14:52:47.348925','== stage: divergence vs checkpoint');
INSERT INTO "joblog" VALUES(112,1,'2026-12-03 14:52:47.429204','llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO "joblog" VALUES(113,1,'2026-12-03 14:52:51.055325','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO "joblog" VALUES(114,1,'2026-12-03 14:52:51.234635','W1203 14:52:51.232000 18044 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(115,1,'2026-12-03 14:52:51.261219','W1203 14:52:51.260000 18044 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(116,1,'2026-12-03 14:52:51.395101','');
INSERT INTO "joblog" VALUES(117,1,'2026-12-03 14:52:51.551638','Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO "joblog" VALUES(118,1,'2026-12-03 14:52:51.552627','Loading weights:   5%|▌         | 1/20 [00:00<00:03,  6.28it/s]');
INSERT INTO "joblog" VALUES(119,1,'2026-12-03 14:52:51.552662','Loading weights: 100%|██████████| 20/20 [00:00<00:00, 124.48it/s]');
INSERT INTO "joblog" VALUES(120,2,'2026-12-03 14:52:55.613217','== stage: preflight');
INSERT INTO "joblog" VALUES(121,2,'2026-12-03 14:52:57.238479','== stage: quantize');
INSERT INTO "joblog" VALUES(122,2,'2026-12-03 14:52:58.665175','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO "joblog" VALUES(123,2,'2026-12-03 14:52:58.666970','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_cutlass_90a.abi3.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_cutlass_90a.abi3.so');
INSERT INTO "joblog" VALUES(124,2,'2026-12-03 14:52:58.841819','W1203 14:52:58.841000 18053 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(125,2,'2026-12-03 14:52:58.894154','W1203 14:52:58.893000 18053 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(126,2,'2026-12-03 14:52:59.517127','int8-rtn: 14 linear layers quantized (symmetric, per-channel)');
INSERT INTO "joblog" VALUES(127,2,'2026-12-03 14:52:59.521614','== stage: evaluate');
INSERT INTO "joblog" VALUES(128,2,'2026-12-03 14:53:02.923131','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO "joblog" VALUES(129,2,'2026-12-03 14:53:03.128211','W1203 14:53:03.127000 18057 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(130,2,'2026-12-03 14:53:03.161725','W1203 14:53:03.161000 18057 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(131,2,'2026-12-03 14:53:03.926779','');
INSERT INTO "joblog" VALUES(132,2,'2026-12-03 14:53:03.936073','Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO "joblog" VALUES(133,2,'2026-12-03 14:53:03.936090','Loading weights: 100%|██████████| 20/20 [00:00<00:00, 2183.74it/s]');
INSERT INTO "joblog" VALUES(134,2,'2026-12-03 14:53:08.291169','base logits kept for the next jobs on this comparison: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-logits/4838971695a8901e');
INSERT INTO "joblog" VALUES(135,2,'2026-12-03 14:53:09.340061','== stage: store');
INSERT INTO "joblog" VALUES(136,2,'2026-12-03 14:53:09.355243','== stage: evaluate base');
INSERT INTO "joblog" VALUES(137,2,'2026-12-03 14:53:12.591111','Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO "joblog" VALUES(138,2,'2026-12-03 14:53:12.765188','W1203 14:53:12.764000 18084 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(139,2,'2026-12-03 14:53:12.799126','W1203 14:53:12.791000 18084 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO "joblog" VALUES(140,2,'2026-12-03 14:53:12.912500','');
INSERT INTO "joblog" VALUES(141,2,'2026-12-03 14:53:12.935168','Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO "joblog" VALUES(142,2,'2026-12-03 14:53:12.935188','Loading weights: 100%|██████████| 20/20 [00:00<00:00, 1236.46it/s]');
INSERT INTO "joblog" VALUES(143,3,'2026-12-03 14:53:19.793341','== stage: preflight');
INSERT INTO "joblog" VALUES(144,3,'2026-12-03 14:53:19.807247','== stage: convert');
INSERT INTO "joblog" VALUES(145,3,'2026-12-03 14:53:19.808262','F16 GGUF already converted: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf');
INSERT INTO "joblog" VALUES(146,3,'2026-12-03 14:53:19.811777','== stage: quantize');
INSERT INTO "joblog" VALUES(147,3,'2026-12-03 14:53:19.855986','llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO "joblog" VALUES(148,3,'2026-12-03 14:53:19.856045','llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO "joblog" VALUES(149,3,'2026-12-03 14:53:19.856061','llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO "joblog" VALUES(150,3,'2026-12-03 14:53:19.856072','llama_model_loader: - kv   1:                               general.type str              = model');
INSERT INTO "joblog" VALUES(151,3,'2026-12-03 14:53:19.856082','llama_model_loader: - kv   2:                               general.name str              = Tiny Llama');
INSERT INTO "joblog" VALUES(152,3,'2026-12-03 14:53:19.856093','llama_model_loader: - kv   3:                         general.size_label str              = 14M');
INSERT INTO "joblog" VALUES(153,3,'2026-12-03 14:53:19.856106','llama_model_loader: - kv   4:                          llama.block_count u32              = 2');
INSERT INTO "joblog" VALUES(154,3,'2026-12-03 14:53:19.856121','llama_model_loader: - kv   5:                       llama.context_length u32              = 2048');
INSERT INTO "joblog" VALUES(155,3,'2026-12-03 14:53:19.856128','llama_model_loader: - kv   6:                     llama.embedding_length u32              = 256');
INSERT INTO "joblog" VALUES(156,3,'2026-12-03 14:53:19.856136','llama_model_loader: - kv   7:                  llama.feed_forward_length u32              = 512');
INSERT INTO "joblog" VALUES(157,3,'2026-12-03 14:53:19.856143','llama_model_loader: - kv   8:                 llama.attention.head_count u32              = 4');
INSERT INTO "joblog" VALUES(158,3,'2026-12-03 14:53:19.856150','llama_model_loader: - kv   9:              llama.attention.head_count_kv u32              = 2');
INSERT INTO "joblog" VALUES(159,3,'2026-12-03 14:53:19.856164','llama_model_loader: - kv  10:                       llama.rope.freq_base f32              = 10000.000000');
INSERT INTO "joblog" VALUES(160,3,'2026-12-03 14:53:19.856173','llama_model_loader: - kv  11:     llama.attention.layer_norm_rms_epsilon f32              = 0.000001');
INSERT INTO "joblog" VALUES(161,3,'2026-12-03 14:53:19.856181','llama_model_loader: - kv  12:                 llama.attention.key_length u32              = 64');
INSERT INTO "joblog" VALUES(162,3,'2026-12-03 14:53:19.859059','llama_model_loader: - kv  13:               llama.attention.value_length u32              = 64');
INSERT INTO "joblog" VALUES(163,3,'2026-12-03 14:53:19.859064','llama_model_loader: - kv  14:                          general.file_type u32              = 1');
INSERT INTO "joblog" VALUES(164,3,'2026-12-03 14:53:19.859065','llama_model_loader: - kv  15:                           llama.vocab_size u32              = 49152');
INSERT INTO "joblog" VALUES(165,3,'2026-12-03 14:53:19.859066','llama_model_loader: - kv  16:                 llama.rope.dimension_count u32              = 64');
INSERT INTO "joblog" VALUES(166,3,'2026-12-03 14:53:19.859067','llama_model_loader: - kv  17:               general.quantization_version u32              = 2');
INSERT INTO "joblog" VALUES(167,3,'2026-12-03 14:53:19.859068','llama_model_loader: - kv  18:                       tokenizer.ggml.model str              = gpt2');
INSERT INTO "joblog" VALUES(168,3,'2026-12-03 14:53:19.859070','llama_model_loader: - kv  19:                         tokenizer.ggml.pre str              = smollm');
INSERT INTO "joblog" VALUES(169,3,'2026-12-03 14:53:19.859832','llama_model_loader: - kv  20:                      tokenizer.ggml.tokens arr[str,49152]   = ["<|endoftext|>", "<|im_start|>", "<|...');
INSERT INTO "joblog" VALUES(170,3,'2026-12-03 14:53:19.860726','llama_model_loader: - kv  21:                  tokenizer.ggml.token_type arr[i32,49152]   = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, ...');
INSERT INTO "joblog" VALUES(171,3,'2026-12-03 14:53:19.864259','llama_model_loader: - kv  22:                      tokenizer.ggml.merges arr[str,48900]   = ["Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ...');
INSERT INTO "joblog" VALUES(172,3,'2026-12-03 14:53:19.864282','llama_model_loader: - kv  23:                tokenizer.ggml.bos_token_id u32              = 1');
INSERT INTO "joblog" VALUES(173,3,'2026-12-03 14:53:19.864290','llama_model_loader: - kv  24:                tokenizer.ggml.eos_token_id u32              = 2');
INSERT INTO "joblog" VALUES(174,3,'2026-12-03 14:53:19.864297','llama_model_loader: - kv  25:            tokenizer.ggml.unknown_token_id u32              = 0');
INSERT INTO "joblog" VALUES(175,3,'2026-12-03 14:53:19.864304','llama_model_loader: - kv  26:            tokenizer.ggml.padding_token_id u32              = 2');
INSERT INTO "joblog" VALUES(176,3,'2026-12-03 14:53:19.864313','llama_model_loader: - kv  27:                    tokenizer.chat_template str              = {% for message in messages %}{% if lo...');
INSERT INTO "joblog" VALUES(177,3,'2026-12-03 14:53:19.864324','llama_model_loader: - kv  28:               tokenizer.ggml.add_bos_token bool             = false');
INSERT INTO "joblog" VALUES(178,3,'2026-12-03 14:53:19.864333','llama_model_loader: - type  f32:    5 tensors');
INSERT INTO "joblog" VALUES(179,3,'2026-12-03 14:53:19.864341','llama_model_loader: - type  f16:   15 tensors');
INSERT INTO "joblog" VALUES(180,3,'2026-12-03 14:53:19.890368','[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(181,3,'2026-12-03 14:53:20.003382','[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q8_0 .. size =    24.00 MiB ->    12.75 MiB');
INSERT INTO "joblog" VALUES(182,3,'2026-12-03 14:53:20.004207','[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(183,3,'2026-12-03 14:53:20.004254','[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(184,3,'2026-12-03 14:53:20.004699','[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(185,3,'2026-12-03 14:53:20.005202','[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(186,3,'2026-12-03 14:53:20.005489','[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(187,3,'2026-12-03 14:53:20.006469','[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(188,3,'2026-12-03 14:53:20.007506','[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(189,3,'2026-12-03 14:53:20.007558','[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(190,3,'2026-12-03 14:53:20.008487','[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(191,3,'2026-12-03 14:53:20.008780','[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(192,3,'2026-12-03 14:53:20.008820','[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(193,3,'2026-12-03 14:53:20.009293','[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(194,3,'2026-12-03 14:53:20.009769','[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO "joblog" VALUES(195,3,'2026-12-03 14:53:20.010036','[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO "joblog" VALUES(196,3,'2026-12-03 14:53:20.010922','[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(197,3,'2026-12-03 14:53:20.013933','[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(198,3,'2026-12-03 14:53:20.013945','[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(199,3,'2026-12-03 14:53:20.014660','[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO "joblog" VALUES(200,3,'2026-12-03 14:53:20.020976','llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO "joblog" VALUES(201,3,'2026-12-03 14:53:20.021009','llama_model_quantize_impl: quant size  =    13.95 MiB (8.50 BPW)');
INSERT INTO "joblog" VALUES(202,3,'2026-12-03 14:53:20.036812','version: 0.5.0-dev (build 0, commit unknown)');
INSERT INTO "joblog" VALUES(203,3,'2026-12-03 14:53:20.039151','built with GNU 12.2.0 for Linux x86_64');
INSERT INTO "joblog" VALUES(204,3,'2026-12-03 14:53:20.039171','llama_quantize: quantizing ''/home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf'' to ''/home/ada/studio-workspace/tmp/job-3/sensitivity-low.gguf'' as Q8_0 using 2 threads');
INSERT INTO "joblog" VALUES(205,3,'2026-12-03 14:53:20.046183','llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO "joblog" VALUES(206,3,'2026-12-03 14:53:20.046235','llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO "joblog" VALUES(207,3,'2026-12-03 14:53:20.046260','llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO "joblog" VALUES(208,3,'2026-12-03 14:53:20.067136','llama_model_loader: - type  f32:    5 tensors');
INSERT INTO "joblog" VALUES(209,3,'2026-12-03 14:53:20.068252','llama_tensor_get_type: token_embd.weight                    - applying manual override: q8_0 -> q2_K');
INSERT INTO "joblog" VALUES(210,3,'2026-12-03 14:53:20.068258','llama_tensor_get_type: blk.0.attn_k.weight                  - applying manual override: q8_0 -> q2_K');
INSERT INTO "joblog" VALUES(211,3,'2026-12-03 14:53:20.088558','[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(212,3,'2026-12-03 14:53:20.883301','[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q2_K .. size =    24.00 MiB ->     3.94 MiB');
INSERT INTO "joblog" VALUES(213,3,'2026-12-03 14:53:20.893161','[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO "joblog" VALUES(214,3,'2026-12-03 14:53:20.893224','[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(215,3,'2026-12-03 14:53:20.896116','[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO "joblog" VALUES(216,3,'2026-12-03 14:53:20.899890','[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO "joblog" VALUES(217,3,'2026-12-03 14:53:20.903132','[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO "joblog" VALUES(218,3,'2026-12-03 14:53:20.914245','[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(219,3,'2026-12-03 14:53:20.919201','[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(220,3,'2026-12-03 14:53:20.923039','[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(221,3,'2026-12-03 14:53:20.926768','[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(222,3,'2026-12-03 14:53:20.931148','[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO "joblog" VALUES(223,3,'2026-12-03 14:53:20.931160','[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(224,3,'2026-12-03 14:53:20.938734','[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO "joblog" VALUES(225,3,'2026-12-03 14:53:20.943103','[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO "joblog" VALUES(226,3,'2026-12-03 14:53:20.948891','[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO "joblog" VALUES(227,3,'2026-12-03 14:53:20.958376','[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(228,3,'2026-12-03 14:53:20.969821','[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(229,3,'2026-12-03 14:53:20.969832','[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO "joblog" VALUES(230,3,'2026-12-03 14:53:20.978245','[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO "joblog" VALUES(231,3,'2026-12-03 14:53:20.978325','llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO "joblog" VALUES(232,3,'2026-12-03 14:53:20.981940','');
INSERT INTO "joblog" VALUES(233,3,'2026-12-03 14:53:20.981968','llama_quantize: quantize time =   945.08 ms');
INSERT INTO "joblog" VALUES(234,3,'2026-12-03 14:53:20.981979','llama_quantize:    total time =   945.08 ms');
INSERT INTO "joblog" VALUES(235,3,'2026-12-03 14:53:20.986018','== stage: sensitivity');
INSERT INTO "joblog" VALUES(236,3,'2026-12-03 14:53:21.055941','llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO "joblog" VALUES(237,3,'2026-12-03 14:53:21.120942','15 tensors, each alone at its low type, scored on 1 chunks of 128 against the F16');
INSERT INTO "joblog" VALUES(238,3,'2026-12-03 14:53:30.376569','== stage: store');
INSERT INTO "joblog" VALUES(239,3,'2026-12-03 14:53:30.394434','measured 15 tensors in 9 s');
CREATE TABLE ollama_import (
	id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	result_id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	host VARCHAR NOT NULL, 
	server_version VARCHAR NOT NULL, 
	digest VARCHAR NOT NULL, 
	uploaded BOOLEAN NOT NULL, 
	modelfile VARCHAR NOT NULL, 
	smoke_prompt VARCHAR NOT NULL, 
	smoke_answer VARCHAR NOT NULL, 
	show JSON, 
	seconds FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES job (id), 
	FOREIGN KEY(result_id) REFERENCES result (id)
);
CREATE TABLE ollama_pending (
	job_id INTEGER NOT NULL, 
	host VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	existed BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (job_id), 
	FOREIGN KEY(job_id) REFERENCES job (id)
);
CREATE TABLE result (
	id INTEGER NOT NULL, 
	job_id INTEGER, 
	model VARCHAR NOT NULL, 
	model_key VARCHAR NOT NULL, 
	recipe VARCHAR NOT NULL, 
	recipe_name VARCHAR, 
	family VARCHAR NOT NULL, 
	is_base BOOLEAN NOT NULL, 
	base_key VARCHAR NOT NULL, 
	artifact VARCHAR NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	n_params INTEGER NOT NULL, 
	bpw FLOAT NOT NULL, 
	tensor_types JSON, 
	made_with JSON, 
	fallback_tensors INTEGER NOT NULL, 
	ppl FLOAT NOT NULL, 
	nll_sum FLOAT NOT NULL, 
	n_ctx INTEGER NOT NULL, 
	n_chunks INTEGER NOT NULL, 
	n_tokens_scored INTEGER NOT NULL, 
	prefill_tok_s FLOAT NOT NULL, 
	decode_tok_s FLOAT NOT NULL, 
	peak_rss_bytes INTEGER NOT NULL, 
	peak_vram_bytes INTEGER, 
	emulated BOOLEAN NOT NULL, 
	divergence JSON, 
	generations_skipped VARCHAR, 
	quant_seconds FLOAT, 
	load_seconds FLOAT, 
	pending JSON, 
	filled_by INTEGER, 
	cpu_share FLOAT, 
	load_average FLOAT, 
	eval_text_sha VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "result" VALUES(1,1,'/home/ada/models/tiny-llama','3d7928da07aa4008','gguf:Q8_0','gguf','gguf',0,'gguf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:llama.cpp-0.3.36','/home/ada/studio-workspace/outputs/tiny-llama/job1-tiny-llama-Q8_0.gguf',16398304,13763840,8.50218543662233727786e+00,'{"F32": 5, "Q8_0": 15}','null',0,50576.4883334641,1.36473650332077431812e+03,128,2,126,3.7414260253551213963e+02,4.93450301040211058989e+00,171556864,NULL,0,'{"kld_mean": 1.3015974468408884e-05, "kld_median": 1.290523490726041e-05, "kld_p99": 1.6622584485936136e-05, "kld_max": 1.706890252353233e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.5997193162394194e-05, "base_ppl": 50546.58746954125, "vs_checkpoint": {"kld_mean": 1.2993898749853747e-05, "kld_median": 1.2862564193534895e-05, "kld_p99": 1.6564176696419645e-05, "kld_max": 1.7017707350823524e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.587632821936658e-05}}',NULL,2.26621736999959466629e-01,1.21385165999981836648e-01,'[]',1,4.82757264319434775678e-01,2.3759765625,'32d31e14a0255e5d','2026-12-03 14:52:36.498716');
INSERT INTO "result" VALUES(2,NULL,'/home/ada/models/tiny-llama','3d7928da07aa4008','gguf:base (F16)',NULL,'gguf',1,'gguf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:llama.cpp-0.3.36','/home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf',29300704,13763840,1.60014879568492496275e+01,'{"F16": 15, "F32": 5}','null',0,5.05465874695412494465e+04,1.36466198998276195197e+03,128,2,126,2.77840206205020876948e+02,5.49045320388797648564e+01,354201600,NULL,0,'{"vs_checkpoint": {"kld_mean": 1.039077186647944e-08, "kld_median": 1.0242997731554441e-08, "kld_p99": 1.4129872092602413e-08, "kld_max": 1.4352708017649198e-08, "same_top_pct": 100.0, "rms_dp_pct": 3.477901365350066e-07}}',NULL,NULL,1.19891664000078890239e-01,'[]',1,0.472474808966705,2.3759765625,'32d31e14a0255e5d','2026-12-03 14:52:36.516327');
INSERT INTO "result" VALUES(3,2,'/home/ada/models/tiny-llama','3d7928da07aa4008','int8-rtn','int8-rtn','hf',0,'hf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:transformers-5.23.0+torch-2.13.0+cpu','/home/ada/studio-workspace/outputs/tiny-llama/job2-tiny-llama-int8-rtn',26394832,13763840,1.53415511950153451437e+01,'{}','null',0,5.05429192091902150432e+04,1.36465284559538440592e+03,128,2,126,1.15751257492645049751e+03,7.5942132041854577551e+00,499068928,NULL,1,'{"kld_mean": 9.995118931025535e-06, "kld_median": 9.892189258617084e-06, "kld_p99": 1.2873048427161715e-05, "kld_max": 1.3228852601640625e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.919841769690671e-05, "base_ppl": 50546.524191479}',NULL,2.27852600400001392699e+00,2.5985656499999549851e+00,'[]',2,4.91136768987345651016e-01,2.7958984375,'32d31e14a0255e5d','2026-12-03 14:53:09.343350');
INSERT INTO "result" VALUES(4,NULL,'/home/ada/models/tiny-llama','3d7928da07aa4008','hf:base (checkpoint)',NULL,'hf',1,'hf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:transformers-5.23.0+torch-2.13.0+cpu','/home/ada/models/tiny-llama',27529856,13763840,1.60012647633218634273e+01,'{}','null',0,50546.524191479,1.36466183224628093736e+03,128,2,126,5.15959841120426290208e+02,8.49897851566352713348e+00,496492544,NULL,0,'{}',NULL,NULL,2.35097093900003528688e+00,'[]',2,5.09496645171749196201e-01,2.7958984375,'32d31e14a0255e5d','2026-12-03 14:53:09.353015');
CREATE TABLE sensitivitymap (
	id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	family VARCHAR DEFAULT 'gguf' NOT NULL, 
	model VARCHAR NOT NULL, 
	model_key VARCHAR NOT NULL, 
	calibration_sha VARCHAR NOT NULL, 
	n_ctx INTEGER NOT NULL, 
	n_chunks INTEGER NOT NULL, 
	tokens_scored INTEGER NOT NULL, 
	high_type VARCHAR NOT NULL, 
	low_types JSON, 
	added_kld JSON, 
	baseline_kld FLOAT NOT NULL, 
	relative_error JSON, 
	seconds FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "sensitivitymap" VALUES(1,3,'gguf','/home/ada/models/tiny-llama','3d7928da07aa4008','9c8742d7ff04aef7',128,1,111,'Q8_0','{"token_embd.weight": "Q2_K", "blk.0.attn_q.weight": "Q2_K", "blk.0.attn_k.weight": "Q2_K", "blk.0.attn_v.weight": "Q2_K", "blk.0.attn_output.weight": "Q2_K", "blk.0.ffn_gate.weight": "Q2_K", "blk.0.ffn_up.weight": "Q2_K", "blk.0.ffn_down.weight": "Q2_K", "blk.1.attn_q.weight": "Q2_K", "blk.1.attn_k.weight": "Q2_K", "blk.1.attn_v.weight": "Q2_K", "blk.1.attn_output.weight": "Q2_K", "blk.1.ffn_gate.weight": "Q2_K", "blk.1.ffn_up.weight": "Q2_K", "blk.1.ffn_down.weight": "Q2_K"}','{"token_embd.weight": 0.010630796822558129, "blk.0.attn_q.weight": 9.036069106373418e-06, "blk.0.attn_k.weight": 9.087645808948412e-06, "blk.0.attn_v.weight": 0.005695757940786438, "blk.0.attn_output.weight": 0.004357824161588385, "blk.0.ffn_gate.weight": 0.0013861957404490018, "blk.0.ffn_up.weight": 0.0012082164019248673, "blk.0.ffn_down.weight": 0.0014261688738299353, "blk.1.attn_q.weight": 1.418601354406591e-06, "blk.1.attn_k.weight": 1.940093731073733e-06, "blk.1.attn_v.weight": 0.003919554708190816, "blk.1.attn_output.weight": 0.00411903268248529, "blk.1.ffn_gate.weight": 0.0003495297815103074, "blk.1.ffn_up.weight": 0.0003601247009727034, "blk.1.ffn_down.weight": 0.0003359835683861654}',1.51683118564340085865e-05,'null',9.24482836500010307645e+00,'2026-12-03 14:53:30.369846');
CREATE INDEX ix_job_state ON job (state);
CREATE INDEX ix_job_model ON job (model);
CREATE INDEX ix_job_model_key ON job (model_key);
CREATE INDEX ix_job_dedupe_key ON job (dedupe_key);
CREATE INDEX ix_result_base_key ON result (base_key);
CREATE INDEX ix_result_job_id ON result (job_id);
CREATE INDEX ix_result_model ON result (model);
CREATE INDEX ix_result_model_key ON result (model_key);
CREATE UNIQUE INDEX one_base_row_per_key ON result (base_key) WHERE is_base;
CREATE INDEX ix_sensitivitymap_model_key ON sensitivitymap (model_key);
CREATE INDEX ix_sensitivitymap_job_id ON sensitivitymap (job_id);
CREATE INDEX ix_joblog_job_id ON joblog (job_id);
CREATE INDEX ix_generation_result_id ON generation (result_id);
CREATE INDEX ix_ollama_import_result_id ON ollama_import (result_id);
CREATE INDEX ix_ollama_import_job_id ON ollama_import (job_id);
COMMIT;
