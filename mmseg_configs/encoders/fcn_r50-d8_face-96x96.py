# FCN-R50-D8 face-parsing encoder at 96x96 over the shared face classes of
# dakpn_aug/data/face_labels.py (FaceSynthetics <-> CelebAMask-HQ).
_base_ = ['./fcn_r50-d8_96x160.py']
num_classes = 14  # len(dakpn_aug.data.face_labels.FACE_CLASSES); tested
crop_size = (96, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))
